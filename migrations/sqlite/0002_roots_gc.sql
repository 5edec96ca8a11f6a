-- narherder schema version 2 (SQLite): GC roots, request times for
-- eviction, and the indexes the garbage collector needs.

-- A named root (e.g. `channel/master/<commit>`), optionally expiring.
CREATE TABLE roots (
  id         INTEGER PRIMARY KEY,
  name       TEXT NOT NULL UNIQUE,
  expires_at INTEGER,            -- seconds since the Unix epoch; NULL = never
  updated_at INTEGER NOT NULL    -- seconds since the Unix epoch
);

-- The items a root protects. Items are interned hash parts, so a root may
-- name an item that has no narinfo (yet).
CREATE TABLE root_items (
  root_id INTEGER NOT NULL,
  item_id INTEGER NOT NULL,
  PRIMARY KEY (root_id, item_id)
) WITHOUT ROWID;
CREATE INDEX root_items_item ON root_items (item_id);

-- When an item was last requested and how often (written in batches by the
-- server's analytics, read by eviction).
CREATE TABLE item_usage (
  item_id        INTEGER PRIMARY KEY,
  last_requested INTEGER NOT NULL,  -- seconds since the Unix epoch
  requests       INTEGER NOT NULL
);

-- The grace period's seeds and the dead set come from this small index
-- instead of a scan of the (large) narinfo rows.
CREATE INDEX narinfos_added ON narinfos (added_at, item_id);

-- Whether another narinfo still names a nar file (shared URLs).
CREATE INDEX nar_files_url ON nar_files (url);

-- Whoever forgets items (`Store::prune_items`, the garbage collector) must
-- not forget one a root names: item ids are what `root_items` holds, and
-- SQLite may hand a forgotten id to a new item.
CREATE TRIGGER items_keep_rooted BEFORE DELETE ON items
WHEN EXISTS (SELECT 1 FROM root_items WHERE item_id = old.id)
BEGIN
  SELECT RAISE(IGNORE);
END;

-- A forgotten item's usage goes with it.
CREATE TRIGGER items_forget_usage AFTER DELETE ON items
BEGIN
  DELETE FROM item_usage WHERE item_id = old.id;
END;
