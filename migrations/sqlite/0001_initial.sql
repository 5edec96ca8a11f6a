-- narherder schema version 1 (SQLite).
-- The migrations runner (src/store/schema.rs) creates `meta` and applies this
-- inside one transaction. Every table has a primary key.

-- Every hash part the store has heard of: the narinfos it holds and the items
-- they reference (which need not be stored). `hash` is the 20-byte key of the
-- 32-character hash part (src/store/key.rs).
CREATE TABLE items (
  id   INTEGER PRIMARY KEY,
  hash BLOB NOT NULL UNIQUE
);

-- One row per stored narinfo. `id` grows with every insertion (so the big
-- rows and their edges are appended, never inserted in the middle, however
-- the import is ordered); `item_id` is the item it describes. The store path
-- is the store directory (meta), the hash part (items) and `name`; `text` is
-- served byte for byte.
CREATE TABLE narinfos (
  id       INTEGER PRIMARY KEY,
  item_id  INTEGER NOT NULL UNIQUE,  -- items.id
  name     TEXT NOT NULL,
  text     TEXT NOT NULL,
  nar_hash TEXT NOT NULL,
  nar_size INTEGER NOT NULL,
  deriver  TEXT,
  system   TEXT,
  ca       TEXT,
  added_at INTEGER NOT NULL          -- seconds since the Unix epoch
);

-- Reference edges: narinfo `from_id` (narinfos.id) references item `to_id`
-- (items.id). WITHOUT ROWID: the primary key is the table, so a narinfo's
-- edges are contiguous and a recursive walk reads them with one seek.
CREATE TABLE refs (
  from_id INTEGER NOT NULL,
  to_id   INTEGER NOT NULL,
  PRIMARY KEY (from_id, to_id)
) WITHOUT ROWID;

-- Reverse edges, for referrers. Dropped during a bulk load and rebuilt at
-- its end (src/store/mod.rs, begin_bulk_load).
CREATE INDEX refs_to ON refs (to_id, from_id);

-- Downloadable archives of a narinfo (narinfos.id), in file order.
CREATE TABLE nar_files (
  narinfo_id  INTEGER NOT NULL,
  idx         INTEGER NOT NULL,
  url         TEXT NOT NULL,
  compression TEXT,
  file_size   INTEGER,
  file_hash   TEXT,
  PRIMARY KEY (narinfo_id, idx)
) WITHOUT ROWID;
