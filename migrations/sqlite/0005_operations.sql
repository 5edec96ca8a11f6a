-- narherder schema version 5 (SQLite): what the operator's status page and
-- `narherder doctor` read, kept small so that they never scan the store.

-- Running totals of the store, one row, kept by triggers on every write
-- (imports, uploads, GC, eviction) so that the status page reads counts
-- and sizes without scanning a million narinfo rows.
CREATE TABLE store_totals (
  id        INTEGER PRIMARY KEY CHECK (id = 1),
  narinfos  INTEGER NOT NULL,
  nar_size  INTEGER NOT NULL,  -- sum of NarSize
  nar_files INTEGER NOT NULL,
  file_size INTEGER NOT NULL   -- sum of FileSize (where given)
);
INSERT INTO store_totals (id, narinfos, nar_size, nar_files, file_size) VALUES (1,
  (SELECT COUNT(*) FROM narinfos),
  (SELECT COALESCE(SUM(nar_size), 0) FROM narinfos),
  (SELECT COUNT(*) FROM nar_files),
  (SELECT COALESCE(SUM(file_size), 0) FROM nar_files));

CREATE TRIGGER store_totals_narinfo_insert AFTER INSERT ON narinfos BEGIN
  UPDATE store_totals SET narinfos = narinfos + 1, nar_size = nar_size + NEW.nar_size WHERE id = 1;
END;
CREATE TRIGGER store_totals_narinfo_delete AFTER DELETE ON narinfos BEGIN
  UPDATE store_totals SET narinfos = narinfos - 1, nar_size = nar_size - OLD.nar_size WHERE id = 1;
END;
CREATE TRIGGER store_totals_narinfo_update AFTER UPDATE OF nar_size ON narinfos BEGIN
  UPDATE store_totals SET nar_size = nar_size - OLD.nar_size + NEW.nar_size WHERE id = 1;
END;
CREATE TRIGGER store_totals_file_insert AFTER INSERT ON nar_files BEGIN
  UPDATE store_totals SET nar_files = nar_files + 1,
    file_size = file_size + COALESCE(NEW.file_size, 0) WHERE id = 1;
END;
CREATE TRIGGER store_totals_file_delete AFTER DELETE ON nar_files BEGIN
  UPDATE store_totals SET nar_files = nar_files - 1,
    file_size = file_size - COALESCE(OLD.file_size, 0) WHERE id = 1;
END;
CREATE TRIGGER store_totals_file_update AFTER UPDATE OF file_size ON nar_files BEGIN
  UPDATE store_totals SET
    file_size = file_size - COALESCE(OLD.file_size, 0) + COALESCE(NEW.file_size, 0) WHERE id = 1;
END;

-- One row per garbage collection that deleted (or tried to delete)
-- something: dry runs are not recorded. Written by src/gc.rs at the end of
-- every run, whoever started it (CLI, admin API, C, Guile).
CREATE TABLE gc_runs (
  id                INTEGER PRIMARY KEY,
  started_at        INTEGER NOT NULL,  -- seconds since the Unix epoch
  finished_at       INTEGER NOT NULL,
  live              INTEGER NOT NULL,
  dead              INTEGER NOT NULL,
  deleted           INTEGER NOT NULL,  -- narinfos
  nar_files_deleted INTEGER NOT NULL,
  bytes_freed       INTEGER NOT NULL,  -- sum of FileSize
  nar_bytes_freed   INTEGER NOT NULL,  -- sum of NarSize
  files_removed     INTEGER NOT NULL,
  kept              INTEGER NOT NULL,
  error             TEXT               -- NULL when the run succeeded
);
CREATE INDEX gc_runs_started ON gc_runs (started_at);
