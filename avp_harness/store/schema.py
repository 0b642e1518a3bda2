"""The store's schema version, importable without SQLAlchemy (the fast `avp status` reads it).

Bump when a table changes (tables.py); `Store.open` refuses a store with a newer version and
migrates an older one (store.py `_migrate`). 2: runs.owner/heartbeat_at, the claims table, the
`answered` cell status, an index on cells (fingerprint, sample).
"""

SCHEMA_VERSION = 2
