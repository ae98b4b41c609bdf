"""The events app: calendars, bookings, tickets and what's on at the venue."""
