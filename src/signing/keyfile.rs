//! Writing a key pair to disk, the same way for both schemes: `PREFIX.sec`
//! created with mode 0600 (never readable by others, not even briefly) and
//! `PREFIX.pub` with mode 0644; neither may exist already, so a key is never
//! overwritten, and a failure leaves no half pair behind.

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
