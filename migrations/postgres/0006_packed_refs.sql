-- narherder schema version 6 (PostgreSQL): reference edges packed per
-- narinfo (see the SQLite migration of the same number): `narinfos.refs`
-- holds the referenced item ids as an array (read with `unnest`), and
-- `items.rc` counts the stored narinfos other than itself that reference
-- an item. One row per narinfo instead of ~31 edge rows with two indexes.

ALTER TABLE narinfos ADD COLUMN refs BIGINT[] NOT NULL DEFAULT '{}';
ALTER TABLE items ADD COLUMN rc BIGINT NOT NULL DEFAULT 0;

UPDATE narinfos n SET refs = r.a FROM (
  SELECT from_id, array_agg(to_id ORDER BY to_id) AS a FROM refs GROUP BY from_id) r
WHERE n.id = r.from_id;

UPDATE items i SET rc = x.c FROM (
  SELECT r.to_id, COUNT(*) AS c FROM refs r JOIN narinfos n ON n.id = r.from_id
  WHERE r.to_id <> n.item_id GROUP BY r.to_id) x
WHERE i.id = x.to_id;

DROP TABLE refs;

-- The counts above are complete: an interrupted bulk load is finished.
DELETE FROM meta WHERE key = 'bulk_load';
