-- narherder schema version 3 (SQLite): what the server needs.
-- (Version 2 belongs to roots and garbage collection.)

-- The change feed: one row per insert, update or delete of a narinfo,
-- written by triggers, so that writes by any process (imports, GC, uploads
-- to another server) reach every server's in-memory cache. Servers read it
-- by `seq > last seen` and prune rows older than a few minutes.
-- AUTOINCREMENT: a sequence number is never reused, even after pruning.
CREATE TABLE narinfo_changes (
  seq  INTEGER PRIMARY KEY AUTOINCREMENT,
  hash BLOB NOT NULL,            -- 20-byte item key, as items.hash
  op   TEXT NOT NULL,            -- 'put' (inserted or replaced) or 'del'
  at   INTEGER NOT NULL          -- seconds since the Unix epoch
);
CREATE INDEX narinfo_changes_at ON narinfo_changes (at);

CREATE TRIGGER narinfo_changes_insert AFTER INSERT ON narinfos BEGIN
  INSERT INTO narinfo_changes (hash, op, at)
    SELECT hash, 'put', CAST(strftime('%s', 'now') AS INTEGER) FROM items WHERE id = NEW.item_id;
END;
CREATE TRIGGER narinfo_changes_update AFTER UPDATE ON narinfos BEGIN
  INSERT INTO narinfo_changes (hash, op, at)
    SELECT hash, 'put', CAST(strftime('%s', 'now') AS INTEGER) FROM items WHERE id = NEW.item_id;
END;
CREATE TRIGGER narinfo_changes_delete AFTER DELETE ON narinfos BEGIN
  INSERT INTO narinfo_changes (hash, op, at)
    SELECT hash, 'del', CAST(strftime('%s', 'now') AS INTEGER) FROM items WHERE id = OLD.item_id;
END;

-- (Nar requests find the narinfo naming a URL through the index
-- nar_files_url of version 2.)

-- Analytics, per node (so that mirrors' rows can flow back to the primary
-- in tables of their own) and per day (days since the Unix epoch).
CREATE TABLE request_totals (
  node           TEXT NOT NULL,
  day            INTEGER NOT NULL,
  narinfo_hits   INTEGER NOT NULL DEFAULT 0,
  narinfo_misses INTEGER NOT NULL DEFAULT 0,
  nar_downloads  INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (node, day)
);

-- Requests for stored items.
CREATE TABLE item_requests (
  node          TEXT NOT NULL,
  day           INTEGER NOT NULL,
  hash          BLOB NOT NULL,   -- 20-byte item key
  narinfo_hits  INTEGER NOT NULL DEFAULT 0,
  nar_downloads INTEGER NOT NULL DEFAULT 0,
  last_at       INTEGER NOT NULL, -- last request, seconds since the epoch
  PRIMARY KEY (node, day, hash)
);
CREATE INDEX item_requests_hash ON item_requests (hash, day);

-- Narinfo requests for hashes the store does not have.
CREATE TABLE missed_hashes (
  node    TEXT NOT NULL,
  day     INTEGER NOT NULL,
  hash    BLOB NOT NULL,         -- 20-byte key of the requested hash part
  misses  INTEGER NOT NULL DEFAULT 0,
  last_at INTEGER NOT NULL,
  PRIMARY KEY (node, day, hash)
);
