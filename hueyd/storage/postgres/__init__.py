"""PostgreSQL storage (psycopg2, loaded on first use): :class:`PostgresStorage`."""
from hueyd.storage.postgres.storage import PostgresStorage

__all__ = ["PostgresStorage"]
