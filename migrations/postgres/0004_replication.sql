-- narherder schema version 4 (PostgreSQL): logical replication between a
-- primary and its mirrors (src/replication/).

-- The logical replication apply worker runs triggers with an empty
-- search_path: pin narherder's trigger functions to the schema the store
-- lives in, so that they find their tables on a mirror too.
DO $$
BEGIN
  EXECUTE format('ALTER FUNCTION narherder_narinfo_changed() SET search_path = %I',
                 current_schema());
  EXECUTE format('ALTER FUNCTION narherder_items_before_delete() SET search_path = %I',
                 current_schema());
END
$$;

-- The change feed also records rows applied by replication, so that the
-- servers of a mirror learn of the primary's imports and deletions.
ALTER TABLE narinfos ENABLE ALWAYS TRIGGER narinfo_changes;

-- The node names whose analytics rows arrived by replication (from the
-- mirrors, on the primary): a re-subscription may replace those rows,
-- never the rows this database's own servers wrote.
CREATE TABLE replicated_nodes (
  node       TEXT PRIMARY KEY,
  first_seen BIGINT NOT NULL DEFAULT (extract(epoch FROM now())::BIGINT)
);

-- Rows applied by replication (ENABLE REPLICA: those only) on the
-- analytics tables: remember the node; and a mirror's item requests also
-- count for eviction here, as the primary's own servers' requests do.
CREATE FUNCTION narherder_replicated_analytics() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  item BIGINT;
  delta BIGINT;
BEGIN
  INSERT INTO replicated_nodes (node) VALUES (NEW.node) ON CONFLICT (node) DO NOTHING;
  IF TG_TABLE_NAME = 'item_requests' THEN
    SELECT i.id INTO item FROM items i JOIN narinfos n ON n.item_id = i.id
      WHERE i.hash = NEW.hash;
    IF item IS NOT NULL THEN
      delta := NEW.narinfo_hits + NEW.nar_downloads;
      IF TG_OP = 'UPDATE' THEN
        delta := delta - OLD.narinfo_hits - OLD.nar_downloads;
      END IF;
      INSERT INTO item_usage (item_id, last_requested, requests)
        VALUES (item, NEW.last_at, GREATEST(delta, 0))
        ON CONFLICT (item_id) DO UPDATE SET
          last_requested = GREATEST(item_usage.last_requested, excluded.last_requested),
          requests = item_usage.requests + excluded.requests;
    END IF;
  END IF;
  RETURN NULL;
END
$$;
DO $$
BEGIN
  EXECUTE format('ALTER FUNCTION narherder_replicated_analytics() SET search_path = %I',
                 current_schema());
END
$$;

CREATE TRIGGER item_requests_replicated AFTER INSERT OR UPDATE ON item_requests
  FOR EACH ROW EXECUTE FUNCTION narherder_replicated_analytics();
ALTER TABLE item_requests ENABLE REPLICA TRIGGER item_requests_replicated;
CREATE TRIGGER request_totals_replicated AFTER INSERT ON request_totals
  FOR EACH ROW EXECUTE FUNCTION narherder_replicated_analytics();
ALTER TABLE request_totals ENABLE REPLICA TRIGGER request_totals_replicated;
