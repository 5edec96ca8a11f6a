-- narherder schema version 4 (SQLite). Replication is PostgreSQL only
-- (src/replication/); this table exists on both backends so that the
-- per-node analytics queries are the same. On SQLite it stays empty.
CREATE TABLE replicated_nodes (
  node       TEXT PRIMARY KEY,
  first_seen INTEGER NOT NULL
);
