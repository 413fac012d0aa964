"""vecdash: a terminal console for pgvector collections spread over several PostgreSQL pods."""

__version__ = "0.1.0"
