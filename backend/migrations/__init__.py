"""Alembic migrations: one history that builds the same schema on PostGIS and SpatiaLite."""
