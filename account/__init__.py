"""The account app: the member's dashboard (orders, tickets, bookings, newsletters, data)."""
