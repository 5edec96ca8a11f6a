-- narherder schema version 5 (PostgreSQL): what the operator's status page
-- and `narherder doctor` read, kept small so that they never scan the store.

-- Running totals of the store, one row, kept by statement-level triggers
-- (one update per statement, whatever its row count) so that the status
-- page reads counts and sizes without scanning a million narinfo rows.
-- (Like narinfo_changes, the triggers do not fire in a logical replication
-- apply worker unless set ENABLE ALWAYS on a mirror.)
CREATE TABLE store_totals (
  id        INTEGER PRIMARY KEY CHECK (id = 1),
  narinfos  BIGINT NOT NULL,
  nar_size  BIGINT NOT NULL,  -- sum of NarSize
  nar_files BIGINT NOT NULL,
  file_size BIGINT NOT NULL   -- sum of FileSize (where given)
);
INSERT INTO store_totals (id, narinfos, nar_size, nar_files, file_size) VALUES (1,
  (SELECT COUNT(*) FROM narinfos),
  (SELECT COALESCE(SUM(nar_size), 0) FROM narinfos),
  (SELECT COUNT(*) FROM nar_files),
  (SELECT COALESCE(SUM(file_size), 0) FROM nar_files));

CREATE FUNCTION narherder_totals_narinfos() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    UPDATE store_totals SET narinfos = narinfos + n, nar_size = nar_size + s
      FROM (SELECT COUNT(*) AS n, COALESCE(SUM(nar_size), 0) AS s FROM new_rows) x WHERE id = 1;
  ELSIF TG_OP = 'DELETE' THEN
    UPDATE store_totals SET narinfos = narinfos - n, nar_size = nar_size - s
      FROM (SELECT COUNT(*) AS n, COALESCE(SUM(nar_size), 0) AS s FROM old_rows) x WHERE id = 1;
  ELSE
    UPDATE store_totals SET nar_size = nar_size + d
      FROM (SELECT (SELECT COALESCE(SUM(nar_size), 0) FROM new_rows)
                 - (SELECT COALESCE(SUM(nar_size), 0) FROM old_rows) AS d) x WHERE id = 1;
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER store_totals_narinfo_insert AFTER INSERT ON narinfos
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION narherder_totals_narinfos();
CREATE TRIGGER store_totals_narinfo_delete AFTER DELETE ON narinfos
  REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION narherder_totals_narinfos();
CREATE TRIGGER store_totals_narinfo_update AFTER UPDATE ON narinfos
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION narherder_totals_narinfos();

CREATE FUNCTION narherder_totals_nar_files() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    UPDATE store_totals SET nar_files = nar_files + n, file_size = file_size + s
      FROM (SELECT COUNT(*) AS n, COALESCE(SUM(file_size), 0) AS s FROM new_rows) x WHERE id = 1;
  ELSIF TG_OP = 'DELETE' THEN
    UPDATE store_totals SET nar_files = nar_files - n, file_size = file_size - s
      FROM (SELECT COUNT(*) AS n, COALESCE(SUM(file_size), 0) AS s FROM old_rows) x WHERE id = 1;
  ELSE
    UPDATE store_totals SET file_size = file_size + d
      FROM (SELECT (SELECT COALESCE(SUM(file_size), 0) FROM new_rows)
                 - (SELECT COALESCE(SUM(file_size), 0) FROM old_rows) AS d) x WHERE id = 1;
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER store_totals_file_insert AFTER INSERT ON nar_files
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION narherder_totals_nar_files();
CREATE TRIGGER store_totals_file_delete AFTER DELETE ON nar_files
  REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION narherder_totals_nar_files();
CREATE TRIGGER store_totals_file_update AFTER UPDATE ON nar_files
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION narherder_totals_nar_files();

-- One row per garbage collection that deleted (or tried to delete)
-- something: dry runs are not recorded. Written by src/gc.rs at the end of
-- every run, whoever started it (CLI, admin API, C, Guile).
CREATE TABLE gc_runs (
  id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  started_at        BIGINT NOT NULL,  -- seconds since the Unix epoch
  finished_at       BIGINT NOT NULL,
  live              BIGINT NOT NULL,
  dead              BIGINT NOT NULL,
  deleted           BIGINT NOT NULL,  -- narinfos
  nar_files_deleted BIGINT NOT NULL,
  bytes_freed       BIGINT NOT NULL,  -- sum of FileSize
  nar_bytes_freed   BIGINT NOT NULL,  -- sum of NarSize
  files_removed     BIGINT NOT NULL,
  kept              BIGINT NOT NULL,
  error             TEXT              -- NULL when the run succeeded
);
CREATE INDEX gc_runs_started ON gc_runs (started_at);

-- On a mirror, rows arrive through the logical replication apply worker,
-- which fires row-level triggers only (never statement-level ones) and
-- only those enabled REPLICA or ALWAYS. These row-level twins of the
-- triggers above are enabled REPLICA: they never fire on the primary
-- (whose statement-level triggers keep the totals there) and keep the
-- mirror's totals as the initial copy and the replicated changes arrive
-- (one single-row update each, applied by one worker: no contention).
CREATE FUNCTION narherder_totals_replicated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_TABLE_NAME = 'narinfos' THEN
    IF TG_OP = 'INSERT' THEN
      UPDATE store_totals SET narinfos = narinfos + 1, nar_size = nar_size + NEW.nar_size WHERE id = 1;
    ELSIF TG_OP = 'DELETE' THEN
      UPDATE store_totals SET narinfos = narinfos - 1, nar_size = nar_size - OLD.nar_size WHERE id = 1;
    ELSE
      UPDATE store_totals SET nar_size = nar_size - OLD.nar_size + NEW.nar_size WHERE id = 1;
    END IF;
  ELSE
    IF TG_OP = 'INSERT' THEN
      UPDATE store_totals SET nar_files = nar_files + 1,
        file_size = file_size + COALESCE(NEW.file_size, 0) WHERE id = 1;
    ELSIF TG_OP = 'DELETE' THEN
      UPDATE store_totals SET nar_files = nar_files - 1,
        file_size = file_size - COALESCE(OLD.file_size, 0) WHERE id = 1;
    ELSE
      UPDATE store_totals SET
        file_size = file_size - COALESCE(OLD.file_size, 0) + COALESCE(NEW.file_size, 0) WHERE id = 1;
    END IF;
  END IF;
  RETURN NULL;
END
$$;
DO $$
BEGIN
  EXECUTE format('ALTER FUNCTION narherder_totals_replicated() SET search_path = %I',
                 current_schema());
  EXECUTE format('ALTER FUNCTION narherder_totals_narinfos() SET search_path = %I',
                 current_schema());
  EXECUTE format('ALTER FUNCTION narherder_totals_nar_files() SET search_path = %I',
                 current_schema());
END
$$;
CREATE TRIGGER store_totals_narinfo_replicated AFTER INSERT OR UPDATE OR DELETE ON narinfos
  FOR EACH ROW EXECUTE FUNCTION narherder_totals_replicated();
ALTER TABLE narinfos ENABLE REPLICA TRIGGER store_totals_narinfo_replicated;
CREATE TRIGGER store_totals_file_replicated AFTER INSERT OR UPDATE OR DELETE ON nar_files
  FOR EACH ROW EXECUTE FUNCTION narherder_totals_replicated();
ALTER TABLE nar_files ENABLE REPLICA TRIGGER store_totals_file_replicated;
