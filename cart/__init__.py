"""The cart app: the basket, checkout, orders and payments."""
