//! Importing existing caches into a [`Store`].
//!
//! Sources are directories (walked recursively for files ending in
//! `.narinfo`), single files (which may hold several narinfos separated by
//! blank lines) and standard input. The layouts of `guix publish --cache`,
//! the Guix Build Coordinator and Nix `file://` binary caches are all
//! "narinfo files somewhere under a directory, nar files next to them".
//!
//! The pipeline overlaps reading with writing: a walker thread lists files,
//! parser threads read, parse and check them, and the calling task writes
//! what they produce in batches through [`Store::add_many`] (one transaction
//! per batch, so a crash loses at most the batch in flight and never leaves
//! half a narinfo). Channels between the stages are bounded, so memory stays
//! flat however large the import.
//!
//! A bad narinfo is a [`Rejection`] (`PATH:LINE: reason`), reported through
//! [`ImportProgress::rejected`] as it happens and collected in the
//! [`ImportReport`]; the rest of the import goes on.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::narinfo::parse_many;
use crate::signing::Verdict;
use crate::storage::{self, NarFilesMode, NarStorage, Placed};
use crate::store::{AddMode, AddOutcome, Store};
use crate::{Error, Narinfo, Result};

/// Decides whether a narinfo may be imported: anything but
/// [`Verdict::Valid`] rejects it, with the verdict as the reason.
pub type Verifier = Arc<dyn Fn(&Narinfo) -> Verdict + Send + Sync>;

/// Where narinfos come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportSource {
    /// A directory (walked recursively for `*.narinfo`) or a file (of one or
    /// more narinfos separated by blank lines).
    Path(PathBuf),
    /// Standard input, read to its end (one or more narinfos).
    Stdin,
}

impl ImportSource {
    /// `-` is standard input, anything else a path.
    pub fn from_arg(arg: &str) -> ImportSource {
        if arg == "-" {
            ImportSource::Stdin
        } else {
            ImportSource::Path(PathBuf::from(arg))
        }
    }
}

/// Whether to import as a bulk load ([`Store::begin_bulk_load`]: the
/// reverse-edge index is dropped during the import and rebuilt in one sort
/// at its end, which makes large imports several times faster).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BulkLoad {
    /// When the store holds no narinfo yet (the first, large import).
    #[default]
    Auto,
    /// Always.
    Always,
    /// Never (small imports into a large store: rebuilding the index
    /// would cost more than it saves).
    Never,
}

/// How to import.
#[derive(Clone)]
pub struct ImportOptions {
    /// Narinfos per transaction.
    pub batch_size: usize,
    /// Replace a different narinfo already stored under the same hash
    /// (otherwise such a narinfo is rejected).
    pub replace: bool,
    /// When set, only narinfos it finds [`Verdict::Valid`] are imported.
    pub verify: Option<Verifier>,
    /// The nar storage directory nar files are copied or linked into.
    pub storage: Option<NarStorage>,
    /// What to do with the nar files next to the narinfos (ignored without
    /// a storage directory).
    pub nar_files: NarFilesMode,
    /// Number of parser threads.
    pub parsers: usize,
    /// Read, parse and check everything but write nothing (the narinfos
    /// that pass are counted in [`ImportReport::checked`]).
    pub dry_run: bool,
    /// Whether to import as a bulk load.
    pub bulk_load: BulkLoad,
}

impl Default for ImportOptions {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        ImportOptions {
            batch_size: 5000,
            replace: false,
            verify: None,
            storage: None,
            nar_files: NarFilesMode::Leave,
            parsers: cores.clamp(1, 4),
            dry_run: false,
            bulk_load: BulkLoad::Auto,
        }
    }
}

impl std::fmt::Debug for ImportOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportOptions")
            .field("batch_size", &self.batch_size)
            .field("replace", &self.replace)
            .field("verify", &self.verify.is_some())
            .field("storage", &self.storage)
            .field("nar_files", &self.nar_files)
            .field("parsers", &self.parsers)
            .field("dry_run", &self.dry_run)
            .field("bulk_load", &self.bulk_load)
            .finish()
    }
}

/// A narinfo (or a whole file) that was not imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The file (`-` for standard input).
    pub path: PathBuf,
    /// 1-based line in that file; 0 when the problem concerns the whole file.
    pub line: usize,
    /// Why.
    pub reason: String,
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.path.display(), self.reason)
        } else {
            write!(f, "{}:{}: {}", self.path.display(), self.line, self.reason)
        }
    }
}

/// Observes an import as it runs. Methods may be called from any thread;
/// every method has a do-nothing default.
pub trait ImportProgress: Send + Sync {
    /// `n` more narinfo files were found.
    fn found(&self, _n: u64) {}
    /// `n` more files were read and parsed.
    fn files_done(&self, _n: u64) {}
    /// A batch was committed; `imported` is the running total.
    fn committed(&self, _imported: u64) {}
    /// A narinfo or file was rejected.
    fn rejected(&self, _rejection: &Rejection) {}
    /// Something worth telling that rejects nothing (a nar file not found).
    fn warning(&self, _message: &str) {}
}

/// An [`ImportProgress`] that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl ImportProgress for NoProgress {}

/// What an import did.
#[derive(Debug, Clone, Default)]
pub struct ImportReport {
    /// Files read (standard input counts as one).
    pub files: u64,
    /// Narinfos stored that were not there before.
    pub new: u64,
    /// Narinfos already stored with the same text.
    pub unchanged: u64,
    /// Narinfos that replaced a different stored text.
    pub replaced: u64,
    /// What was rejected, in the order it was found.
    pub rejections: Vec<Rejection>,
    /// Nar files copied or linked into the storage directory.
    pub nar_files_placed: u64,
    /// Nar files already in the storage directory.
    pub nar_files_present: u64,
    /// Nar files that were to be copied or linked but were not found.
    pub nar_files_missing: u64,
    /// Wall-clock time.
    pub elapsed: Duration,
    /// Part of [`ImportReport::elapsed`] spent in [`Store::add_many`].
    pub write_time: Duration,
    /// Narinfos that passed every check in a dry run (nothing written).
    pub checked: u64,
    /// Part of [`ImportReport::elapsed`] spent rebuilding the reverse-edge
    /// index at the end of a bulk load.
    pub index_time: Duration,
}

impl ImportReport {
    /// Narinfos now stored from this import: new + unchanged + replaced.
    pub fn imported(&self) -> u64 {
        self.new + self.unchanged + self.replaced
    }

    /// Narinfos per second (imported, or checked in a dry run).
    pub fn rate(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            (self.imported() + self.checked) as f64 / secs
        } else {
            0.0
        }
    }
}

impl std::fmt::Display for ImportReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.checked > 0 {
            return write!(
                f,
                "dry run: checked {}, rejected {}, in {:.2} s, {:.0} narinfos/s",
                self.checked,
                self.rejections.len(),
                self.elapsed.as_secs_f64(),
                self.rate()
            );
        }
        write!(
            f,
            "imported {} (new {}, unchanged {}, replaced {}), rejected {}, in {:.2} s, {:.0} narinfos/s ({:.2} s writing)",
            self.imported(),
            self.new,
            self.unchanged,
            self.replaced,
            self.rejections.len(),
            self.elapsed.as_secs_f64(),
            self.rate(),
            self.write_time.as_secs_f64()
        )?;
        if !self.index_time.is_zero() {
            write!(
                f,
                " (+{:.2} s rebuilding the reverse index)",
                self.index_time.as_secs_f64()
            )?;
        }
        if self.nar_files_placed + self.nar_files_present + self.nar_files_missing > 0 {
            write!(
                f,
                "; nar files: {} placed, {} already present, {} not found",
                self.nar_files_placed, self.nar_files_present, self.nar_files_missing
            )?;
        }
        Ok(())
    }
}

/// A file to read, with the import root it was found under (for finding
/// nar files next to it).
struct Work {
    path: PathBuf,
    root: PathBuf,
    stdin: bool,
}

/// A parsed, checked narinfo and where it came from.
struct Parsed {
    narinfo: Narinfo,
    path: Arc<Path>,
    root: Arc<Path>,
    line: usize,
}

/// What parser threads send to the writer.
enum Produced {
    Narinfos(Vec<Parsed>),
    Rejected(Rejection),
    FilesDone(u64),
}

const WALK_CHUNK: usize = 128;

/// Imports `sources` into `store`. Fails only when the store itself fails
/// (a database error); bad input is reported in the [`ImportReport`].
///
/// The import runs as a bulk load according to [`ImportOptions::bulk_load`],
/// and finishes a bulk load an interrupted import left behind.
pub async fn import(
    store: &Store,
    sources: &[ImportSource],
    opts: &ImportOptions,
    progress: Arc<dyn ImportProgress>,
) -> Result<ImportReport> {
    let started = Instant::now();
    // A bulk load left by an interrupted import is finished at the end of
    // this one.
    let info = store.counts().await?;
    let bulk = !opts.dry_run
        && match opts.bulk_load {
            BulkLoad::Always => true,
            BulkLoad::Never => false,
            BulkLoad::Auto => info.narinfos == 0,
        };
    if bulk {
        store.begin_bulk_load().await?;
    }
    let end_bulk = bulk || (info.bulk_load && !opts.dry_run);
    let mut report = import_files(store, sources, opts, progress).await;
    if end_bulk {
        let index_started = Instant::now();
        let ended = store.end_bulk_load().await;
        if let Ok(report) = &mut report {
            report.index_time = index_started.elapsed();
        }
        if let (Ok(_), Err(e)) = (&report, ended) {
            report = Err(e);
        }
    }
    let mut report = report?;
    report.elapsed = started.elapsed();
    Ok(report)
}

/// The pipeline of [`import`], without the bulk-load bracket.
async fn import_files(
    store: &Store,
    sources: &[ImportSource],
    opts: &ImportOptions,
    progress: Arc<dyn ImportProgress>,
) -> Result<ImportReport> {
    let batch_size = opts.batch_size.max(1);
    let (work_tx, work_rx) = std_mpsc::sync_channel::<Vec<Work>>(64);
    let (out_tx, mut out_rx) = mpsc::channel::<Produced>(64);

    // Walker.
    let walker = {
        let sources = sources.to_vec();
        let out_tx = out_tx.clone();
        let progress = progress.clone();
        std::thread::Builder::new()
            .name("narherder-import-walk".into())
            .spawn(move || walk(&sources, &work_tx, &out_tx, &*progress))
            .map_err(|e| Error::io("<thread>", e))?
    };

    // Parsers.
    let work_rx = Arc::new(Mutex::new(work_rx));
    let mut parsers = Vec::new();
    for n in 0..opts.parsers.max(1) {
        let work_rx = work_rx.clone();
        let out_tx = out_tx.clone();
        let verify = opts.verify.clone();
        let store_dir = store.store_dir().to_string();
        let handle = std::thread::Builder::new()
            .name(format!("narherder-import-parse-{n}"))
            .spawn(move || parse_worker(&work_rx, &out_tx, verify.as_ref(), &store_dir))
            .map_err(|e| Error::io("<thread>", e))?;
        parsers.push(handle);
    }
    drop(out_tx);

    // Writer: this task.
    let mut report = ImportReport::default();
    let mut batch: Vec<Parsed> = Vec::with_capacity(batch_size);
    let mut failure = None;
    while let Some(produced) = out_rx.recv().await {
        match produced {
            Produced::Narinfos(items) => {
                batch.extend(items);
                if batch.len() >= batch_size {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(batch_size));
                    if let Err(e) = write_batch(store, full, opts, &mut report, &*progress).await {
                        failure = Some(e);
                        break;
                    }
                }
            }
            Produced::Rejected(r) => {
                progress.rejected(&r);
                report.rejections.push(r);
            }
            Produced::FilesDone(n) => {
                report.files += n;
                progress.files_done(n);
            }
        }
    }
    if failure.is_none() && !batch.is_empty() {
        if let Err(e) = write_batch(store, batch, opts, &mut report, &*progress).await {
            failure = Some(e);
        }
    }
    // Dropping the receiver makes the producers stop at their next send.
    drop(out_rx);
    let _ = walker.join();
    for p in parsers {
        let _ = p.join();
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(report),
    }
}

/// Lists the files of every source into `work_tx`.
fn walk(
    sources: &[ImportSource],
    work_tx: &std_mpsc::SyncSender<Vec<Work>>,
    out_tx: &mpsc::Sender<Produced>,
    progress: &dyn ImportProgress,
) {
    let mut chunk = Vec::with_capacity(WALK_CHUNK);
    let reject = |path: &Path, reason: String| {
        out_tx
            .blocking_send(Produced::Rejected(Rejection {
                path: path.to_path_buf(),
                line: 0,
                reason,
            }))
            .is_ok()
    };
    for source in sources {
        let (path, stdin) = match source {
            ImportSource::Stdin => (PathBuf::from("-"), true),
            ImportSource::Path(p) => (p.clone(), false),
        };
        if stdin || !path.is_dir() {
            if !stdin && !path.exists() {
                if !reject(&path, "no such file or directory".into()) {
                    return;
                }
                continue;
            }
            let root = path.parent().map(Path::to_path_buf).unwrap_or_default();
            progress.found(1);
            chunk.push(Work { path, root, stdin });
            continue;
        }
        // Unsorted: sorting would hold a whole directory (a flat cache of a
        // million files) in memory before the first file is read.
        let walker = walkdir::WalkDir::new(&path).follow_links(true);
        for entry in walker {
            match entry {
                Ok(e) => {
                    if e.file_type().is_file()
                        && e.file_name().to_string_lossy().ends_with(".narinfo")
                    {
                        progress.found(1);
                        chunk.push(Work {
                            path: e.into_path(),
                            root: path.clone(),
                            stdin: false,
                        });
                        if chunk.len() >= WALK_CHUNK {
                            let full =
                                std::mem::replace(&mut chunk, Vec::with_capacity(WALK_CHUNK));
                            if work_tx.send(full).is_err() {
                                return;
                            }
                        }
                    }
                }
                Err(e) => {
                    let p = e.path().unwrap_or(&path).to_path_buf();
                    if !reject(&p, e.to_string()) {
                        return;
                    }
                }
            }
        }
    }
    if !chunk.is_empty() {
        let _ = work_tx.send(chunk);
    }
}

/// Reads, parses and checks files until the walker is done.
fn parse_worker(
    work_rx: &Mutex<std_mpsc::Receiver<Vec<Work>>>,
    out_tx: &mpsc::Sender<Produced>,
    verify: Option<&Verifier>,
    store_dir: &str,
) {
    loop {
        let chunk = match work_rx.lock() {
            Ok(rx) => match rx.recv() {
                Ok(chunk) => chunk,
                Err(_) => return,
            },
            Err(_) => return,
        };
        let mut parsed = Vec::new();
        let files = chunk.len() as u64;
        for work in chunk {
            let mut rejections = Vec::new();
            read_file(&work, verify, store_dir, &mut parsed, &mut rejections);
            for r in rejections {
                if out_tx.blocking_send(Produced::Rejected(r)).is_err() {
                    return;
                }
            }
        }
        if !parsed.is_empty() && out_tx.blocking_send(Produced::Narinfos(parsed)).is_err() {
            return;
        }
        if out_tx.blocking_send(Produced::FilesDone(files)).is_err() {
            return;
        }
    }
}

/// Reads one file (or standard input) into `parsed` and `rejections`.
fn read_file(
    work: &Work,
    verify: Option<&Verifier>,
    store_dir: &str,
    parsed: &mut Vec<Parsed>,
    rejections: &mut Vec<Rejection>,
) {
    let reject = |line: usize, reason: String| Rejection {
        path: work.path.clone(),
        line,
        reason,
    };
    let bytes = if work.stdin {
        let mut buf = Vec::new();
        match std::io::stdin().lock().read_to_end(&mut buf) {
            Ok(_) => buf,
            Err(e) => return rejections.push(reject(0, e.to_string())),
        }
    } else {
        match std::fs::read(&work.path) {
            Ok(b) => b,
            Err(e) => return rejections.push(reject(0, e.to_string())),
        }
    };
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let valid = e.utf8_error().valid_up_to();
            let line = 1 + e.as_bytes()[..valid]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            return rejections.push(reject(line, "not valid UTF-8".into()));
        }
    };
    let path: Arc<Path> = Arc::from(work.path.as_path());
    let root: Arc<Path> = Arc::from(work.root.as_path());
    for (start, result) in parse_many(&text) {
        match result {
            Ok(narinfo) => {
                if narinfo.store_dir() != store_dir {
                    rejections.push(reject(
                        start,
                        format!(
                            "store directory {} differs from the store's {store_dir}",
                            narinfo.store_dir()
                        ),
                    ));
                    continue;
                }
                if let Some(verify) = verify {
                    let verdict = verify(&narinfo);
                    if !verdict.is_valid() {
                        rejections.push(reject(start, format!("signature check: {verdict}")));
                        continue;
                    }
                }
                parsed.push(Parsed {
                    narinfo,
                    path: path.clone(),
                    root: root.clone(),
                    line: start,
                });
            }
            Err(e) => {
                // parse_many numbers lines from the start of the whole text.
                let line = match &e {
                    Error::Narinfo { line, .. } if *line > 0 => *line,
                    _ => start,
                };
                rejections.push(reject(line, narinfo_reason(&e)));
            }
        }
    }
}

/// The reason of a parse error without its `line N:` prefix (the rejection
/// carries the line in the file instead).
fn narinfo_reason(e: &Error) -> String {
    match e {
        Error::Narinfo { field, message, .. } if field.is_empty() => message.clone(),
        Error::Narinfo { field, message, .. } => format!("{field}: {message}"),
        other => other.to_string(),
    }
}

/// Writes one batch, counting outcomes; then places nar files.
async fn write_batch(
    store: &Store,
    batch: Vec<Parsed>,
    opts: &ImportOptions,
    report: &mut ImportReport,
    progress: &dyn ImportProgress,
) -> Result<()> {
    // The same hash twice in one batch: keep one.
    let mut seen: HashMap<String, usize> = HashMap::with_capacity(batch.len());
    let mut unique: Vec<Parsed> = Vec::with_capacity(batch.len());
    for item in batch {
        match seen.get(item.narinfo.hash_part()) {
            None => {
                seen.insert(item.narinfo.hash_part().to_string(), unique.len());
                unique.push(item);
            }
            Some(&i) if unique[i].narinfo.text() == item.narinfo.text() => {
                report.unchanged += 1;
            }
            Some(&i) if opts.replace => {
                report.replaced += 1;
                unique[i] = item;
            }
            Some(&i) => {
                let r = Rejection {
                    path: item.path.to_path_buf(),
                    line: item.line,
                    reason: format!(
                        "{} (also in {}:{})",
                        Error::Conflict {
                            hash: item.narinfo.hash_part().to_string()
                        },
                        unique[i].path.display(),
                        unique[i].line
                    ),
                };
                progress.rejected(&r);
                report.rejections.push(r);
            }
        }
    }
    if opts.dry_run {
        report.checked += unique.len() as u64;
        progress.committed(report.checked);
        return Ok(());
    }
    let mode = if opts.replace {
        AddMode::Replace
    } else {
        AddMode::Keep
    };
    // Split the narinfos from where they came from, without copying them.
    let mut narinfos: Vec<Narinfo> = Vec::with_capacity(unique.len());
    let mut origins = Vec::with_capacity(unique.len());
    for p in unique {
        narinfos.push(p.narinfo);
        origins.push((p.path, p.root, p.line));
    }
    let started = Instant::now();
    let outcomes = match store.add_many(&narinfos, mode).await {
        Ok(o) => o.into_iter().map(Ok).collect::<Vec<_>>(),
        // Something in the batch is refused as a whole: add one by one to
        // find which, keeping the others.
        Err(e) if is_item_error(&e) => {
            let mut v = Vec::with_capacity(narinfos.len());
            for n in &narinfos {
                match store.add_many(std::slice::from_ref(n), mode).await {
                    Ok(mut o) => v.push(
                        o.pop()
                            .ok_or_else(|| Error::Store("add_many returned no outcome".into())),
                    ),
                    Err(e) if is_item_error(&e) => v.push(Err(e)),
                    Err(e) => return Err(e),
                }
            }
            v
        }
        Err(e) => return Err(e),
    };
    report.write_time += started.elapsed();
    let mut stored = Vec::with_capacity(narinfos.len());
    let items = narinfos
        .into_iter()
        .zip(origins)
        .map(|(narinfo, (path, root, line))| Parsed {
            narinfo,
            path,
            root,
            line,
        });
    for (item, outcome) in items.zip(outcomes) {
        match outcome {
            Ok(AddOutcome::Inserted) => report.new += 1,
            Ok(AddOutcome::Unchanged) => report.unchanged += 1,
            Ok(AddOutcome::Replaced) => report.replaced += 1,
            Ok(AddOutcome::Conflict) => {
                let r = Rejection {
                    path: item.path.to_path_buf(),
                    line: item.line,
                    reason: Error::Conflict {
                        hash: item.narinfo.hash_part().to_string(),
                    }
                    .to_string(),
                };
                progress.rejected(&r);
                report.rejections.push(r);
                continue;
            }
            Err(e) => {
                let r = Rejection {
                    path: item.path.to_path_buf(),
                    line: item.line,
                    reason: e.to_string(),
                };
                progress.rejected(&r);
                report.rejections.push(r);
                continue;
            }
        }
        stored.push(item);
    }
    progress.committed(report.imported());
    if let (Some(storage), mode) = (&opts.storage, opts.nar_files) {
        if mode != NarFilesMode::Leave && !stored.is_empty() {
            let storage = storage.clone();
            let (counts, warnings) =
                tokio::task::spawn_blocking(move || place_nar_files(&storage, &stored, mode))
                    .await
                    .map_err(|e| Error::Store(format!("nar file placement: {e}")))?;
            report.nar_files_placed += counts.0;
            report.nar_files_present += counts.1;
            report.nar_files_missing += counts.2;
            for w in warnings {
                progress.warning(&w);
            }
        }
    }
    Ok(())
}

/// Whether an error from `add_many` concerns an item (so the other items of
/// the batch can still be added) rather than the database.
fn is_item_error(e: &Error) -> bool {
    matches!(
        e,
        Error::Conflict { .. }
            | Error::Store(_)
            | Error::Narinfo { .. }
            | Error::InvalidArgument(_)
    )
}

/// Copies or links the nar files of `items` into `storage`. Returns
/// (placed, already present, missing) and warnings.
fn place_nar_files(
    storage: &NarStorage,
    items: &[Parsed],
    mode: NarFilesMode,
) -> ((u64, u64, u64), Vec<String>) {
    let (mut placed, mut present, mut missing) = (0, 0, 0);
    let mut warnings = Vec::new();
    for item in items {
        for file in item.narinfo.files() {
            let rel = match storage::url_to_relative(&file.url) {
                Ok(rel) => rel,
                Err(e) => {
                    warnings.push(format!("{}:{}: {e}", item.path.display(), item.line));
                    continue;
                }
            };
            let source = storage::source_candidates(&item.path, &item.root, &rel)
                .into_iter()
                .find(|p| p.is_file());
            let Some(source) = source else {
                missing += 1;
                warnings.push(format!(
                    "{}:{}: nar file {rel} not found next to the narinfo",
                    item.path.display(),
                    item.line
                ));
                continue;
            };
            match storage.place(&source, &file.url, mode) {
                Ok(Placed::Copied | Placed::Linked) => placed += 1,
                Ok(Placed::AlreadyPresent) => present += 1,
                Ok(Placed::Left) => {}
                Err(e) => warnings.push(format!("{}:{}: {e}", item.path.display(), item.line)),
            }
        }
    }
    ((placed, present, missing), warnings)
}
