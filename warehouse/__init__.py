"""Warehouse access: engines from SQLAlchemy URLs, DDL from the catalogue, atomic partition loads."""
