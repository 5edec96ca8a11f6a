//! Writing a key pair to disk, the same way for both schemes: `PREFIX.sec`
//! created with mode 0600 (never readable by others, not even briefly) and
//! `PREFIX.pub` with mode 0644; neither may exist already, so a key is never
//! overwritten, and a failure leaves no half pair behind.
//!
//! Reading: a secret file (signing key, token file) that other users may
//! read or write is used, with a loud warning on standard error naming the
//! file and its mode ([`warn_if_exposed`]). Not refused, because (1) a key
//! others could read is already exposed, and refusing does not un-leak it:
//! the fix is a new key, which the warning says; (2) sharing a key with a
//! service group (`0640`, systemd credentials, secret managers) is a
//! legitimate set-up the group bits must allow; (3) `guix publish` and Nix
//! accept such files too, so a refusal would break migrations for no gain.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// `prefix` with `suffix` appended to its last component (not
/// `with_extension`, which would eat a dotted key name).
fn with_suffix(prefix: &Path, suffix: &str) -> PathBuf {
    let mut s = prefix.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Creates `path` (it must not exist) with `mode` and writes `contents`.
fn write_new_file(path: &Path, contents: &[u8], mode: u32) -> Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(path).map_err(|e| Error::io(path, e))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::io(path, e))
}

/// The warning for a secret file whose `mode` lets others than its owner
/// read or write it, or `None` when it does not.
pub fn exposure_warning(path: &Path, mode: u32) -> Option<String> {
    let who = match (mode & 0o007 != 0, mode & 0o070 != 0) {
        (true, _) => "every user",
        (false, true) => "its group",
        (false, false) => return None,
    };
    let hint = if mode & 0o004 != 0 {
        "; consider the secret exposed: replace it"
    } else {
        ""
    };
    Some(format!(
        "{}: secret file has mode {:04o}: {who} may read or change it \
         (chmod 600 it, or 640 for a service group{hint})",
        path.display(),
        mode & 0o7777
    ))
}

/// Prints [`exposure_warning`] for `path` on standard error, if it applies.
pub fn warn_if_exposed(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if let Ok(meta) = fs::metadata(path) {
            if let Some(w) = exposure_warning(path, meta.permissions().mode()) {
                eprintln!("narherder: warning: {w}");
                tracing::warn!("{w}");
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// Writes `PREFIX.pub` and `PREFIX.sec` (see the module documentation) and
/// returns their paths.
pub(crate) fn write_pair(
    prefix: &Path,
    public: &[u8],
    secret: &[u8],
) -> Result<(PathBuf, PathBuf)> {
    let (pub_path, sec_path) = (with_suffix(prefix, ".pub"), with_suffix(prefix, ".sec"));
    if pub_path.exists() {
        return Err(Error::io(
            &pub_path,
            std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "refusing to overwrite an existing public key file",
            ),
        ));
    }
    write_new_file(&sec_path, secret, 0o600)?;
    if let Err(e) = write_new_file(&pub_path, public, 0o644) {
        let _ = fs::remove_file(&sec_path);
        return Err(e);
    }
    Ok((pub_path, sec_path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposure() {
        let p = Path::new("/k.sec");
        assert_eq!(exposure_warning(p, 0o100600), None);
        assert_eq!(exposure_warning(p, 0o400), None);
        let w = exposure_warning(p, 0o100644).unwrap();
        assert!(
            w.contains("/k.sec") && w.contains("0644") && w.contains("every user"),
            "{w}"
        );
        assert!(w.contains("replace it"), "{w}");
        let g = exposure_warning(p, 0o640).unwrap();
        assert!(g.contains("its group") && !g.contains("replace"), "{g}");
        assert!(exposure_warning(p, 0o602).unwrap().contains("every user"));
    }

    #[cfg(unix)]
    #[test]
    fn written_secret_files_are_0600() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let (pub_path, sec_path) = write_pair(&dir.path().join("k"), b"pub", b"sec").unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&sec_path), 0o600);
        assert_eq!(mode(&pub_path), 0o644);
        // Refuses to overwrite.
        assert!(write_pair(&dir.path().join("k"), b"pub", b"sec").is_err());
    }
}
