"""The implementations of the domain protocols, one module per domain; registry.py wires them."""
