"""The embedded default warehouse: one DuckDB file."""
