"""What the domains promise each other: DTOs and one service protocol per domain.

Apps share one database, so one domain calls another in-process through these contracts,
never over HTTP and never with ORM objects (see shared/services/registry.py).
"""
