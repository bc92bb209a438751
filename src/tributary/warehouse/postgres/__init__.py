"""PostgreSQL as the warehouse."""
