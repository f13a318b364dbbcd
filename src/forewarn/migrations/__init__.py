"""Alembic migrations (shipped inside the package so `forewarn serve` can apply them)."""
