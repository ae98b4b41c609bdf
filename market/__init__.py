"""The market app: products from members and suppliers, collected at the café or delivered."""
