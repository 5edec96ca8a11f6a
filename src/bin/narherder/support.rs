//! Small helpers shared by subcommands.

use std::io::Read as _;
use std::path::Path;

use anyhow::Context as _;

/// Reads a file, or standard input for `-`, as UTF-8 text. Returns the name
/// to use in messages and the text.
pub fn read_input(path: &Path) -> anyhow::Result<(String, String)> {
    let (name, bytes) = if path.as_os_str() == "-" {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .context("reading standard input")?;
        ("<stdin>".to_string(), bytes)
    } else {
        let bytes = std::fs::read(path).with_context(|| path.display().to_string())?;
        (path.display().to_string(), bytes)
    };
    match String::from_utf8(bytes) {
        Ok(text) => Ok((name, text)),
        Err(e) => {
            let offset = e.utf8_error().valid_up_to();
            let line = e.as_bytes()[..offset]
                .iter()
                .filter(|&&b| b == b'\n')
                .count()
                + 1;
            anyhow::bail!("{name}:{line}: not UTF-8 (invalid byte at offset {offset})")
        }
    }
}

/// This machine's host name.
pub fn hostname() -> anyhow::Result<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at most
    // that many bytes.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error()).context("cannot read the host name");
    }
    let len = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let name = std::str::from_utf8(&buf[..len]).context("the host name is not UTF-8")?;
    anyhow::ensure!(!name.is_empty(), "the host name is empty");
    Ok(name.to_string())
}

/// Server settings as `serve` and `doctor` read them: `flags` over the
/// `NARHERDER_*` environment over the `--config` file, if any.
pub fn layered_settings(
    flags: narherder::server::Settings,
    config: Option<&Path>,
) -> anyhow::Result<narherder::server::Settings> {
    use narherder::server::Settings;
    let file = match config {
        Some(path) => Settings::from_file(path)?,
        None => Settings::default(),
    };
    Ok(flags.over(Settings::from_env()?.over(file)))
}

/// The database a server command uses: the file's `database` only when
/// neither the global `--database` nor `NARHERDER_DATABASE` chose one.
pub fn server_database(ctx: &crate::Ctx, settings: &narherder::server::Settings) -> String {
    match &settings.database {
        Some(db)
            if ctx.database == narherder::store::DEFAULT_DATABASE_URL
                && std::env::var(narherder::store::DATABASE_ENV).is_err() =>
        {
            db.clone()
        }
        _ => ctx.database.clone(),
    }
}
