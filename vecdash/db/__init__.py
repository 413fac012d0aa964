"""Connections to pods. Knows psycopg and timeouts; knows nothing of screens."""
