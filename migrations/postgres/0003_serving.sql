-- narherder schema version 3 (PostgreSQL): what the server needs.
-- (Version 2 belongs to roots and garbage collection.)

-- The change feed: one row per insert, update or delete of a narinfo,
-- written by a trigger, so that writes by any process (imports, GC, uploads
-- to another server, and on a mirror the logical replication apply worker
-- once `ALTER TABLE narinfos ENABLE ALWAYS TRIGGER narinfo_changes` is set)
-- reach every server's in-memory cache. Servers read it by `seq > last seen`
-- and prune rows older than a few minutes.
CREATE TABLE narinfo_changes (
  seq  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  hash BYTEA NOT NULL,           -- 20-byte item key, as items.hash
  op   TEXT NOT NULL,            -- 'put' (inserted or replaced) or 'del'
  at   BIGINT NOT NULL DEFAULT (extract(epoch FROM now())::BIGINT)
);
CREATE INDEX narinfo_changes_at ON narinfo_changes (at);

CREATE FUNCTION narherder_narinfo_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    INSERT INTO narinfo_changes (hash, op) SELECT hash, 'del' FROM items WHERE id = OLD.item_id;
    RETURN OLD;
  END IF;
  INSERT INTO narinfo_changes (hash, op) SELECT hash, 'put' FROM items WHERE id = NEW.item_id;
  RETURN NEW;
END
$$;

CREATE TRIGGER narinfo_changes AFTER INSERT OR UPDATE OR DELETE ON narinfos
  FOR EACH ROW EXECUTE FUNCTION narherder_narinfo_changed();

-- (Nar requests find the narinfo naming a URL through the index
-- nar_files_url of version 2.)

-- Analytics, per node (so that mirrors' rows can flow back to the primary
-- in tables of their own) and per day (days since the Unix epoch).
CREATE TABLE request_totals (
  node           TEXT NOT NULL,
  day            BIGINT NOT NULL,
  narinfo_hits   BIGINT NOT NULL DEFAULT 0,
  narinfo_misses BIGINT NOT NULL DEFAULT 0,
  nar_downloads  BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (node, day)
);

-- Requests for stored items.
CREATE TABLE item_requests (
  node          TEXT NOT NULL,
  day           BIGINT NOT NULL,
  hash          BYTEA NOT NULL,  -- 20-byte item key
  narinfo_hits  BIGINT NOT NULL DEFAULT 0,
  nar_downloads BIGINT NOT NULL DEFAULT 0,
  last_at       BIGINT NOT NULL, -- last request, seconds since the epoch
  PRIMARY KEY (node, day, hash)
);
CREATE INDEX item_requests_hash ON item_requests (hash, day);

-- Narinfo requests for hashes the store does not have.
CREATE TABLE missed_hashes (
  node    TEXT NOT NULL,
  day     BIGINT NOT NULL,
  hash    BYTEA NOT NULL,        -- 20-byte key of the requested hash part
  misses  BIGINT NOT NULL DEFAULT 0,
  last_at BIGINT NOT NULL,
  PRIMARY KEY (node, day, hash)
);
