"""warehouse_schema."""
