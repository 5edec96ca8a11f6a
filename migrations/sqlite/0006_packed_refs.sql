-- narherder schema version 6 (SQLite): reference edges packed per narinfo.
--
-- Version 1 kept one `refs` row per edge (31 on average) plus a reverse
-- index; an import wrote, and a collection deleted, tens of B-tree entries
-- per narinfo. Now each narinfo row carries its references as a JSON array
-- of item ids (`narinfos.refs`, read with `json_each`, so the recursive
-- walks stay single SQL statements), and each item counts the stored
-- narinfos other than itself that reference it (`items.rc`): what the
-- garbage collector and eviction need from the reverse direction ("does
-- anything else still reference this item?") is one column read.

ALTER TABLE narinfos ADD COLUMN refs TEXT NOT NULL DEFAULT '[]';
ALTER TABLE items ADD COLUMN rc INTEGER NOT NULL DEFAULT 0;

UPDATE narinfos SET refs = (
  SELECT json_group_array(to_id) FROM
    (SELECT r.to_id FROM refs r WHERE r.from_id = narinfos.id ORDER BY r.to_id))
WHERE EXISTS (SELECT 1 FROM refs r WHERE r.from_id = narinfos.id);

UPDATE items SET rc = x.n FROM (
  SELECT r.to_id AS id, COUNT(*) AS n FROM refs r JOIN narinfos n ON n.id = r.from_id
  WHERE r.to_id <> n.item_id GROUP BY r.to_id) x
WHERE items.id = x.id;

DROP TABLE refs;

-- The counts above are complete: an interrupted bulk load is finished.
DELETE FROM meta WHERE key = 'bulk_load';
