//! Nar storage: the directory that holds the nar files a narinfo's `URL`
//! points to.
//!
//! A URL maps to a file under the storage directory and never outside it.
//! The mapping accepts the spellings real caches use — `nar/lzip/<base>`
//! (Guix), `nar/<filehash>.nar.xz` (Nix), an absolute `/nar/…`, or a full
//! `http(s)://host/nar/…` (its path is taken) — and refuses everything else:
//!
//! * `%XX` escapes are decoded exactly once, then the result is validated
//!   (so `%2e%2e` is a `..` component and is refused);
//! * `.`, `..` and empty components, NUL and other control characters, and
//!   backslashes are refused;
//! * the path must start with a `nar/` component: the HTTP face serves nar
//!   files under `/nar/` only, so an absolute path anywhere else (such as
//!   `/etc/passwd`) is either a mistake or an attempt to reach a file of the
//!   host, and other URL schemes (`file://`, `s3://`) are refused.
//!
//! Symbolic links inside the storage directory are not trusted: before a
//! file is opened or deleted, the canonical path of what exists is checked
//! to lie under the canonical storage directory, and deleting removes a
//! symbolic link itself, never its target.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// What to do with the nar files that sit next to imported narinfos.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NarFilesMode {
    /// Leave them where they are (the storage directory already holds them,
    /// or they are managed elsewhere).
    #[default]
    Leave,
    /// Copy them into the storage directory.
    Copy,
    /// Hard-link them into the storage directory, copying when a hard link
    /// is impossible (another file system, a file system without links).
    Hardlink,
}

impl NarFilesMode {
    /// Parses `leave`, `copy` or `hardlink`.
    pub fn parse(s: &str) -> Result<NarFilesMode> {
        match s {
            "leave" => Ok(NarFilesMode::Leave),
            "copy" => Ok(NarFilesMode::Copy),
            "hardlink" | "hard-link" | "link" => Ok(NarFilesMode::Hardlink),
            _ => Err(Error::InvalidArgument(format!(
                "nar files mode `{s}`: expected leave, copy or hardlink"
            ))),
        }
    }

    /// The mode's name as accepted by [`NarFilesMode::parse`].
    pub fn as_str(self) -> &'static str {
        match self {
            NarFilesMode::Leave => "leave",
            NarFilesMode::Copy => "copy",
            NarFilesMode::Hardlink => "hardlink",
        }
    }
}

/// What [`NarStorage::place`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placed {
    /// The file was copied in.
    Copied,
    /// The file was hard-linked in.
    Linked,
    /// A file was already at the destination; it was left alone.
    AlreadyPresent,
    /// [`NarFilesMode::Leave`]: nothing was done.
    Left,
}

/// Turns a narinfo `URL` into a relative path (with `/` separators) under a
/// storage directory, or explains why it cannot be one. See the module
/// documentation for the rules.
pub fn url_to_relative(url: &str) -> Result<String> {
    let bad =
        |why: &str| Error::InvalidArgument(format!("nar URL `{}`: {why}", url.escape_debug()));
    let path = if let Some(rest) = strip_prefix_ignore_case(url, "http://")
        .or_else(|| strip_prefix_ignore_case(url, "https://"))
    {
        match rest.find('/') {
            Some(slash) => &rest[slash..],
            None => return Err(bad("has no path")),
        }
    } else if url.contains("://") {
        return Err(bad(
            "only relative URLs, absolute paths and http(s) URLs are accepted",
        ));
    } else {
        url
    };
    // The query and fragment of a URL are not part of the file name.
    let path = match path.find(['?', '#']) {
        Some(end) => &path[..end],
        None => path,
    };
    let decoded = percent_decode(path).map_err(|why| bad(&why))?;
    if decoded.contains('\0') {
        return Err(bad("contains a NUL byte"));
    }
    if decoded.contains('\\') {
        return Err(bad("contains a backslash"));
    }
    if decoded.chars().any(char::is_control) {
        return Err(bad("contains a control character"));
    }
    let relative = decoded.strip_prefix('/').unwrap_or(&decoded);
    let mut components = Vec::new();
    for component in relative.split('/') {
        match component {
            "" => return Err(bad("has an empty path component")),
            "." | ".." => return Err(bad("has a `.` or `..` path component")),
            c => components.push(c),
        }
    }
    if components.len() < 2 || components[0] != "nar" {
        return Err(bad("nar files live under `nar/`"));
    }
    Ok(components.join("/"))
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// Decodes `%XX` escapes once. The result must be UTF-8.
fn percent_decode(s: &str) -> std::result::Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad percent escape at byte {}", i + 1))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "percent escapes decode to bytes that are not UTF-8".into())
}

/// A nar storage directory.
#[derive(Debug, Clone)]
pub struct NarStorage {
    root: PathBuf,
}

impl NarStorage {
    /// A storage rooted at `root`, which is created if missing.
    pub fn open(root: impl Into<PathBuf>) -> Result<NarStorage> {
        let root = root.into();
        fs::create_dir_all(&root).map_err(|e| Error::io(&root, e))?;
        let root = fs::canonicalize(&root).map_err(|e| Error::io(&root, e))?;
        Ok(NarStorage { root })
    }

    /// The storage directory (canonical).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file a narinfo URL maps to (which may not exist). Only the URL is
    /// checked, not the file system: use [`NarStorage::existing`] before
    /// reading and [`NarStorage::remove`] to delete.
    pub fn path_for(&self, url: &str) -> Result<PathBuf> {
        Ok(self.root.join(url_to_relative(url)?))
    }

    /// The file a URL maps to, if it exists and its canonical path (after
    /// following any symbolic link) lies inside the storage directory.
    /// `Ok(None)` when there is no such file; an error when it escapes.
    pub fn existing(&self, url: &str) -> Result<Option<PathBuf>> {
        let path = self.path_for(url)?;
        match fs::canonicalize(&path) {
            Ok(real) if real.starts_with(&self.root) => {
                if real.is_file() {
                    Ok(Some(path))
                } else {
                    Ok(None)
                }
            }
            Ok(real) => Err(Error::Store(format!(
                "{} resolves to {}, outside the storage directory {}",
                path.display(),
                real.display(),
                self.root.display()
            ))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(path, e)),
        }
    }

    /// Deletes the file a URL maps to. A symbolic link is removed itself
    /// (its target is untouched); a parent directory that leads outside the
    /// storage directory is refused. Returns whether something was removed.
    pub fn remove(&self, url: &str) -> Result<bool> {
        let path = self.path_for(url)?;
        if !self.parent_inside(&path)? {
            return Ok(false);
        }
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::io(path, e)),
        }
    }

    /// Fails unless the existing `path` is, canonically, inside the storage
    /// directory.
    fn inside(&self, path: &Path) -> Result<()> {
        let real = fs::canonicalize(path).map_err(|e| Error::io(path, e))?;
        if real.starts_with(&self.root) {
            Ok(())
        } else {
            Err(Error::Store(format!(
                "{} resolves to {}, outside the storage directory {}",
                path.display(),
                real.display(),
                self.root.display()
            )))
        }
    }

    /// Whether `path`'s parent directory exists and is, canonically, inside
    /// the storage directory (`Ok(false)` when it does not exist, an error
    /// when it escapes).
    fn parent_inside(&self, path: &Path) -> Result<bool> {
        let parent = path.parent().unwrap_or(&self.root);
        match fs::canonicalize(parent) {
            Ok(real) if real.starts_with(&self.root) => Ok(true),
            Ok(real) => Err(Error::Store(format!(
                "{} resolves to {}, outside the storage directory {}",
                parent.display(),
                real.display(),
                self.root.display()
            ))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::io(parent, e)),
        }
    }

    /// Puts the nar file `source` where `url` says, by `mode`. An existing
    /// destination is never overwritten. Copies go through a temporary file
    /// renamed into place, so a crash never leaves a partial nar file under
    /// its final name.
    pub fn place(&self, source: &Path, url: &str, mode: NarFilesMode) -> Result<Placed> {
        if mode == NarFilesMode::Leave {
            return Ok(Placed::Left);
        }
        let dest = self.path_for(url)?;
        let parent = dest.parent().unwrap_or(&self.root);
        // Check the deepest existing ancestor before creating anything, so a
        // symbolic link leading out never gets directories made through it.
        let mut existing = parent;
        while !existing.exists() {
            existing = existing.parent().unwrap_or(&self.root);
        }
        self.inside(existing)?;
        fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        self.parent_inside(&dest)?;
        if fs::symlink_metadata(&dest).is_ok() {
            return Ok(Placed::AlreadyPresent);
        }
        if mode == NarFilesMode::Hardlink {
            match fs::hard_link(source, &dest) {
                Ok(()) => return Ok(Placed::Linked),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    return Ok(Placed::AlreadyPresent)
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(Error::io(source, e)),
                // Another file system, or links not permitted: copy.
                Err(_) => {}
            }
        }
        let tmp = dest.with_file_name(format!(
            ".{}.tmp-{}",
            dest.file_name().and_then(|n| n.to_str()).unwrap_or("nar"),
            std::process::id()
        ));
        if let Err(e) = fs::copy(source, &tmp) {
            let _ = fs::remove_file(&tmp);
            return Err(Error::io(source, e));
        }
        fs::rename(&tmp, &dest).map_err(|e| {
            let _ = fs::remove_file(&tmp);
            Error::io(&dest, e)
        })?;
        Ok(Placed::Copied)
    }

    /// The relative paths (with `/` separators, as [`url_to_relative`]
    /// returns them) of every file under `nar/` in the storage directory.
    /// Symbolic links are listed, not followed; temporary files left by an
    /// interrupted [`NarStorage::place`] are skipped.
    pub fn nar_files(&self) -> Result<HashSet<String>> {
        let mut files = HashSet::new();
        let nar_dir = self.root.join("nar");
        if !nar_dir.exists() {
            return Ok(files);
        }
        for entry in walkdir::WalkDir::new(&nar_dir).follow_links(false) {
            let entry = entry.map_err(|e| {
                let path = e.path().unwrap_or(&nar_dir).to_path_buf();
                Error::io(path, e.into())
            })?;
            if entry.file_type().is_dir() {
                continue;
            }
            let name = entry.file_name().to_string_lossy();
            if name.starts_with('.') && name.contains(".tmp-") {
                continue;
            }
            if let Ok(rel) = entry.path().strip_prefix(&self.root) {
                files.insert(
                    rel.to_string_lossy()
                        .replace(std::path::MAIN_SEPARATOR, "/"),
                );
            }
        }
        Ok(files)
    }
}

/// Where the nar file of `url` may sit next to a narinfo file being
/// imported, most likely first: `relative` under each directory from the
/// narinfo's own up to `import_root` (Nix `file://` caches, Guix Build
/// Coordinator output), then the `guix publish --cache` layout, where the
/// narinfo is `<cache>/<compression>/<hash>.narinfo` and the nar for
/// `nar/<compression>/<base>` is `<cache>/<compression>/<base>.nar`.
pub fn source_candidates(narinfo_file: &Path, import_root: &Path, relative: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dir = narinfo_file.parent();
    while let Some(d) = dir {
        out.push(d.join(relative));
        if d == import_root || !d.starts_with(import_root) {
            break;
        }
        dir = d.parent();
    }
    let parts: Vec<&str> = relative.split('/').collect();
    if let [_, compression, base] = parts.as_slice() {
        if let Some(d) = narinfo_file.parent() {
            out.push(d.join(format!("{base}.nar")));
            if let Some(up) = d.parent() {
                out.push(up.join(compression).join(format!("{base}.nar")));
            }
        }
    }
    out
}

/// A problem found by [`check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckProblem {
    /// A narinfo's nar file is not in the storage directory.
    MissingNar {
        /// The narinfo's hash part.
        hash: String,
        /// The URL whose file is missing.
        url: String,
    },
    /// A narinfo's URL cannot map to a file of the storage directory.
    BadUrl {
        /// The narinfo's hash part.
        hash: String,
        /// The URL.
        url: String,
        /// Why it was refused.
        reason: String,
    },
    /// A file under `nar/` that no narinfo points to.
    Orphan {
        /// Its path relative to the storage directory.
        path: String,
    },
}

impl std::fmt::Display for CheckProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CheckProblem::MissingNar { hash, url } => write!(f, "missing\t{hash}\t{url}"),
            CheckProblem::BadUrl { hash, url, reason } => {
                write!(f, "bad-url\t{hash}\t{url}\t{reason}")
            }
            CheckProblem::Orphan { path } => write!(f, "orphan\t{path}"),
        }
    }
}

/// What [`check`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// Narinfos examined.
    pub narinfos: u64,
    /// Nar files found in the storage directory.
    pub nar_files: u64,
    /// Nar files missing.
    pub missing: u64,
    /// URLs that cannot map into the storage directory.
    pub bad_urls: u64,
    /// Nar files no narinfo points to.
    pub orphans: u64,
}

impl CheckReport {
    /// Whether nothing is missing, refused or orphaned.
    pub fn is_clean(&self) -> bool {
        self.missing == 0 && self.bad_urls == 0 && self.orphans == 0
    }
}

impl std::fmt::Display for CheckReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} narinfos, {} nar files: {} missing, {} bad URLs, {} orphans",
            self.narinfos, self.nar_files, self.missing, self.bad_urls, self.orphans
        )
    }
}

/// Narinfos fetched per page by [`check`].
const CHECK_PAGE: u32 = 5000;

/// Compares the store with a storage directory: reports (through `report`,
/// as they are found) narinfos whose nar file is missing or whose URL
/// cannot map into the directory, then nar files no narinfo points to.
///
/// The store is read a page at a time; only the set of nar file names of
/// the storage directory is held in memory.
pub async fn check(
    store: &crate::store::Store,
    storage: &NarStorage,
    mut report: impl FnMut(&CheckProblem),
) -> Result<CheckReport> {
    let mut unclaimed = {
        let storage = storage.clone();
        tokio::task::spawn_blocking(move || storage.nar_files())
            .await
            .map_err(|e| Error::Store(format!("listing nar files: {e}")))??
    };
    let mut out = CheckReport {
        nar_files: unclaimed.len() as u64,
        ..CheckReport::default()
    };
    let mut claimed = HashSet::new();
    let mut after: Option<String> = None;
    loop {
        let page = store.list(after.as_deref(), CHECK_PAGE).await?;
        let hashes: Vec<&str> = page.iter().map(String::as_str).collect();
        let stored = store.get_many(&hashes).await?;
        for (hash, stored) in page.iter().zip(stored) {
            // Removed between the two queries: nothing to check.
            let Some(stored) = stored else { continue };
            out.narinfos += 1;
            let narinfo = crate::Narinfo::parse(&stored.text)?;
            for file in narinfo.files() {
                match url_to_relative(&file.url) {
                    Ok(rel) => {
                        if let Some(rel) = unclaimed.take(&rel) {
                            claimed.insert(rel);
                        } else if !claimed.contains(&rel) {
                            out.missing += 1;
                            report(&CheckProblem::MissingNar {
                                hash: hash.clone(),
                                url: file.url.clone(),
                            });
                        }
                    }
                    Err(e) => {
                        out.bad_urls += 1;
                        report(&CheckProblem::BadUrl {
                            hash: hash.clone(),
                            url: file.url.clone(),
                            reason: e.to_string(),
                        });
                    }
                }
            }
        }
        match page.last() {
            Some(last) if page.len() == CHECK_PAGE as usize => after = Some(last.clone()),
            _ => break,
        }
    }
    let mut orphans: Vec<String> = unclaimed.into_iter().collect();
    orphans.sort();
    for path in orphans {
        out.orphans += 1;
        report(&CheckProblem::Orphan { path });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_percent_once() {
        assert_eq!(percent_decode("a%2fb").unwrap(), "a/b");
        assert_eq!(percent_decode("%252e").unwrap(), "%2e");
        assert!(percent_decode("%zz").is_err());
        assert!(percent_decode("%2").is_err());
        assert!(percent_decode("%ff").is_err());
    }

    #[test]
    fn candidates_cover_known_layouts() {
        let c = source_candidates(
            Path::new("/c/gzip/abc.narinfo"),
            Path::new("/c"),
            "nar/gzip/abc-hello",
        );
        assert!(c.contains(&PathBuf::from("/c/gzip/nar/gzip/abc-hello")));
        assert!(c.contains(&PathBuf::from("/c/nar/gzip/abc-hello")));
        assert!(c.contains(&PathBuf::from("/c/gzip/abc-hello.nar")));
        assert!(!c.iter().any(|p| p == Path::new("/nar/gzip/abc-hello")));
    }
}
