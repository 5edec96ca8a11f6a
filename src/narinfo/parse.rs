//! Parsing narinfo text.
//!
//! The parser accepts the field orders real caches write (Nix, `guix
//! publish` across the years, bordeaux), validates every known field, ignores
//! unknown keys (they stay in the text) and keeps the input byte for byte.
//! Errors carry the 1-based line number and the field name.

use super::{NarFile, Narinfo};
use crate::{nix32, Error, Result};

/// Largest narinfo text accepted, in bytes.
pub const MAX_NARINFO_BYTES: usize = 1 << 20;
/// Largest number of lines accepted in one narinfo.
pub const MAX_LINES: usize = 10_000;
/// Largest number of references accepted in one narinfo.
pub const MAX_REFERENCES: usize = 100_000;
/// Longest store-path name (the part after `<hash>-`) Nix accepts.
pub const MAX_NAME_LEN: usize = 211;

/// The message for a malformed `NarHash` or `FileHash`.
const HASH_EXPECTED: &str = "expected sha256:<52 nix-base32 chars or 64 hex chars>";

impl Narinfo {
    /// Parses one narinfo, inferring the store directory from `StorePath`
    /// (everything before its last `/`).
    pub fn parse(text: &str) -> Result<Narinfo> {
        parse_at(text, 0, None)
    }

    /// Parses one narinfo whose `StorePath` must lie directly in
    /// `store_dir` (e.g. `/gnu/store`; a trailing `/` is ignored).
    pub fn parse_in(text: &str, store_dir: &str) -> Result<Narinfo> {
        parse_at(text, 0, Some(store_dir))
    }

    /// Parses one narinfo from bytes, which must be UTF-8 (the error names
    /// the line and byte offset of the first invalid byte).
    pub fn parse_bytes(bytes: &[u8]) -> Result<Narinfo> {
        check_size(bytes.len())?;
        let text = utf8(bytes, 0)?;
        parse_at(text, 0, None)
    }

    /// Parses a text holding several narinfos separated by blank lines; see
    /// the free function [`parse_many`].
    pub fn parse_many(text: &str) -> Vec<(usize, Result<Narinfo>)> {
        parse_many(text)
    }
}

/// Splits a text holding several narinfos separated by blank lines and
/// parses each one.
///
/// Returns, for each record, the 1-based line number of its first line and
/// the result. Line numbers in errors count from the start of the whole
/// text. Each record's [`Narinfo::text`] is its lines, up to and including
/// the newline of its last line (the separating blank lines excluded).
pub fn parse_many(text: &str) -> Vec<(usize, Result<Narinfo>)> {
    let mut out = Vec::new();
    // (first line number, byte start) of the record being collected.
    let mut current: Option<(usize, usize)> = None;
    let mut lineno = 0;
    for (start, line) in lines(text) {
        lineno += 1;
        if line.is_empty() {
            if let Some((first, rstart)) = current.take() {
                out.push((first, parse_at(&text[rstart..start], first - 1, None)));
            }
        } else if current.is_none() {
            current = Some((lineno, start));
        }
    }
    if let Some((first, rstart)) = current {
        out.push((first, parse_at(&text[rstart..], first - 1, None)));
    }
    out
}

/// The lines of `text` as `(byte offset of the line, line without its newline)`.
fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut pos = 0;
    std::iter::from_fn(move || {
        if pos >= text.len() {
            return None;
        }
        let rest = &text[pos..];
        let start = pos;
        let (line, next) = match rest.find('\n') {
            Some(i) => (&rest[..i], pos + i + 1),
            None => (rest, text.len()),
        };
        pos = next;
        Some((start, line))
    })
}

fn check_size(len: usize) -> Result<()> {
    if len > MAX_NARINFO_BYTES {
        return Err(Error::narinfo(
            0,
            "",
            format!("narinfo is {len} bytes, more than the limit of {MAX_NARINFO_BYTES} bytes"),
        ));
    }
    Ok(())
}

/// `bytes` as UTF-8, or an error naming the line (counted from
/// `line_offset + 1`) and byte offset of the first invalid byte.
fn utf8(bytes: &[u8], line_offset: usize) -> Result<&str> {
    std::str::from_utf8(bytes).map_err(|e| {
        let offset = e.valid_up_to();
        let line = line_offset + 1 + bytes[..offset].iter().filter(|&&b| b == b'\n').count();
        Error::narinfo(
            line,
            "",
            format!("invalid UTF-8 at byte offset {offset} (a narinfo is UTF-8 text)"),
        )
    })
}

/// Quotes `s` for an error message, cutting it if long.
pub(crate) fn quote(s: &str) -> String {
    const MAX: usize = 80;
    if s.len() <= MAX {
        return format!("{s:?}");
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{:?}… ({} bytes)", &s[..end], s.len())
}

/// A single-valued field seen so far: (line number, byte offset of the line, value).
type Seen<'a> = Option<(usize, usize, &'a str)>;

/// Records a single-valued field, refusing a second occurrence.
fn single<'a>(
    slot: &mut Seen<'a>,
    line: usize,
    start: usize,
    key: &str,
    value: &'a str,
) -> Result<()> {
    if let Some((first, _, _)) = slot {
        return Err(Error::narinfo(
            line,
            key,
            format!("duplicate field (first on line {first})"),
        ));
    }
    *slot = Some((line, start, value));
    Ok(())
}

/// Parses one narinfo; line numbers in errors are `line_offset + n` for the
/// n-th line of `text`.
pub(crate) fn parse_at(text: &str, line_offset: usize, store_dir: Option<&str>) -> Result<Narinfo> {
    check_size(text.len())?;
    let nlines = text.bytes().filter(|&b| b == b'\n').count()
        + usize::from(!text.ends_with('\n') && !text.is_empty());
    if nlines > MAX_LINES {
        return Err(Error::narinfo(
            0,
            "",
            format!("narinfo has {nlines} lines, more than the limit of {MAX_LINES}"),
        ));
    }

    let mut store_path: Seen = None;
    let mut nar_hash: Seen = None;
    let mut nar_size: Seen = None;
    let mut references: Seen = None;
    let mut deriver: Seen = None;
    let mut system: Seen = None;
    let mut signature: Seen = None;
    let mut ca: Seen = None;
    let mut sigs: Vec<String> = Vec::new();
    let mut urls: Vec<(usize, &str)> = Vec::new();
    let mut compressions: Vec<(usize, &str)> = Vec::new();
    let mut file_sizes: Vec<(usize, u64)> = Vec::new();
    let mut file_hashes: Vec<(usize, &str)> = Vec::new();

    let mut nar_size_value = 0u64;
    let mut reference_list: Vec<String> = Vec::new();
    let mut deriver_value: Option<String> = None;
    let mut store_dir_len = 0usize;

    let mut lineno = line_offset;
    for (start, line) in lines(text) {
        lineno += 1;
        let (key, value) = split_line(line, lineno)?;
        match key {
            "StorePath" => {
                single(&mut store_path, lineno, start, key, value)?;
                store_dir_len =
                    check_store_path(value).map_err(|m| Error::narinfo(lineno, key, m))?;
                if let Some(want) = store_dir {
                    let want = if want.len() > 1 {
                        want.trim_end_matches('/')
                    } else {
                        want
                    };
                    let have = &value[..store_dir_len];
                    if have != want {
                        return Err(Error::narinfo(
                            lineno,
                            key,
                            format!(
                                "{} is not directly in the store directory {} (its directory is {})",
                                quote(value),
                                quote(want),
                                quote(have)
                            ),
                        ));
                    }
                }
            }
            "NarHash" => {
                single(&mut nar_hash, lineno, start, key, value)?;
                if decode_sha256(value).is_none() {
                    return Err(Error::narinfo(
                        lineno,
                        key,
                        format!("{HASH_EXPECTED}, got {}", quote(value)),
                    ));
                }
            }
            "NarSize" => {
                single(&mut nar_size, lineno, start, key, value)?;
                nar_size_value = parse_u64(value).ok_or_else(|| {
                    Error::narinfo(
                        lineno,
                        key,
                        format!("expected a decimal number of bytes, got {}", quote(value)),
                    )
                })?;
            }
            "References" => {
                single(&mut references, lineno, start, key, value)?;
                for (i, r) in value.split(' ').filter(|r| !r.is_empty()).enumerate() {
                    if i >= MAX_REFERENCES {
                        return Err(Error::narinfo(
                            lineno,
                            key,
                            format!("more than {MAX_REFERENCES} references"),
                        ));
                    }
                    check_base_name(r).map_err(|m| {
                        Error::narinfo(
                            lineno,
                            key,
                            format!("reference {} {}: {m}", i + 1, quote(r)),
                        )
                    })?;
                    reference_list.push(r.to_string());
                }
            }
            "Deriver" => {
                single(&mut deriver, lineno, start, key, value)?;
                // Nix writes this placeholder when it does not know the deriver.
                if value != "unknown-deriver" {
                    check_base_name(value)
                        .and_then(|()| {
                            if value.ends_with(".drv") {
                                Ok(())
                            } else {
                                Err("expected a derivation name ending in .drv".to_string())
                            }
                        })
                        .map_err(|m| {
                            Error::narinfo(lineno, key, format!("{m}, got {}", quote(value)))
                        })?;
                    deriver_value = Some(value.to_string());
                }
            }
            "System" => {
                single(&mut system, lineno, start, key, value)?;
                check_token(value, "a system type such as x86_64-linux")
                    .map_err(|m| Error::narinfo(lineno, key, m))?;
            }
            "Signature" => {
                single(&mut signature, lineno, start, key, value)?;
                if value.is_empty() {
                    return Err(Error::narinfo(
                        lineno,
                        key,
                        "expected 1;<host>;<base64>, got an empty value",
                    ));
                }
            }
            "CA" => {
                single(&mut ca, lineno, start, key, value)?;
                check_token(value, "a content address such as fixed:r:sha256:<hash>")
                    .map_err(|m| Error::narinfo(lineno, key, m))?;
            }
            "Sig" => {
                match value.split_once(':') {
                    Some((name, sig))
                        if !name.is_empty() && !sig.is_empty() && !value.contains(' ') => {}
                    _ => {
                        return Err(Error::narinfo(
                            lineno,
                            key,
                            format!(
                                "expected <key name>:<base64 signature>, got {}",
                                quote(value)
                            ),
                        ))
                    }
                }
                sigs.push(value.to_string());
            }
            "URL" => {
                check_token(value, "a URL").map_err(|m| Error::narinfo(lineno, key, m))?;
                urls.push((lineno, value));
            }
            "Compression" => {
                check_token(value, "a compression such as xz, lzip, zstd or none")
                    .map_err(|m| Error::narinfo(lineno, key, m))?;
                compressions.push((lineno, value));
            }
            "FileSize" => {
                let n = parse_u64(value).ok_or_else(|| {
                    Error::narinfo(
                        lineno,
                        key,
                        format!("expected a decimal number of bytes, got {}", quote(value)),
                    )
                })?;
                file_sizes.push((lineno, n));
            }
            "FileHash" => {
                if decode_sha256(value).is_none() {
                    return Err(Error::narinfo(
                        lineno,
                        key,
                        format!("{HASH_EXPECTED}, got {}", quote(value)),
                    ));
                }
                file_hashes.push((lineno, value));
            }
            // Unknown keys are accepted, kept in the text and otherwise ignored.
            _ => {}
        }
    }

    let Some((_, sp_start, sp_value)) = store_path else {
        return Err(Error::narinfo(0, "StorePath", "missing"));
    };
    let Some((_, nh_start, nh_value)) = nar_hash else {
        return Err(Error::narinfo(0, "NarHash", "missing"));
    };
    if nar_size.is_none() {
        return Err(Error::narinfo(0, "NarSize", "missing"));
    }
    check_group_count("Compression", compressions.iter().map(|c| c.0), urls.len())?;
    check_group_count("FileSize", file_sizes.iter().map(|c| c.0), urls.len())?;
    check_group_count("FileHash", file_hashes.iter().map(|c| c.0), urls.len())?;
    if urls.is_empty() {
        return Err(Error::narinfo(0, "URL", "missing"));
    }

    let signed_len = signature.map_or(text.len(), |(_, start, _)| start);
    let essentials_signed = sp_start < signed_len
        && nh_start < signed_len
        && references.is_some_and(|(_, start, _)| start < signed_len);

    let files = urls
        .iter()
        .enumerate()
        .map(|(i, (_, url))| NarFile {
            url: url.to_string(),
            compression: compressions.get(i).map(|c| c.1.to_string()),
            file_size: file_sizes.get(i).map(|c| c.1),
            file_hash: file_hashes.get(i).map(|c| c.1.to_string()),
        })
        .collect();

    Ok(Narinfo {
        text: text.to_string(),
        signed_len,
        store_dir: sp_value[..store_dir_len].to_string(),
        store_path: sp_value.to_string(),
        nar_hash: nh_value.to_string(),
        nar_size: nar_size_value,
        references: reference_list,
        deriver: deriver_value,
        system: system.map(|s| s.2.to_string()),
        ca: ca.map(|s| s.2.to_string()),
        files,
        signature: signature.map(|s| s.2.to_string()),
        sigs,
        essentials_signed,
    })
}

/// Splits `Key: value`. The value is everything after `": "`; `Key:` alone
/// gives an empty value (as in `References:`).
fn split_line(line: &str, lineno: usize) -> Result<(&str, &str)> {
    if line.is_empty() {
        return Err(Error::narinfo(
            lineno,
            "",
            "blank line inside a narinfo (use parse_many for a text holding several narinfos)",
        ));
    }
    if let Some(i) = line.bytes().position(|b| b.is_ascii_control()) {
        let what = match line.as_bytes().get(i) {
            Some(b'\r') => {
                "carriage return (lines must end with \\n alone; CRLF is not accepted)".to_string()
            }
            Some(0) => "NUL byte".to_string(),
            Some(b) => format!("control character 0x{b:02x}"),
            None => "control character".to_string(),
        };
        let field = line.split_once(':').map_or("", |(k, _)| k);
        let field = if is_key(field) { field } else { "" };
        return Err(Error::narinfo(
            lineno,
            field,
            format!("{what} at column {}", i + 1),
        ));
    }
    let Some((key, rest)) = line.split_once(':') else {
        return Err(Error::narinfo(
            lineno,
            "",
            format!("expected `Key: value`, got {}", quote(line)),
        ));
    };
    if !is_key(key) {
        return Err(Error::narinfo(
            lineno,
            "",
            format!(
                "expected `Key: value` with a key of letters, digits, - or _, got {}",
                quote(line)
            ),
        ));
    }
    let value = if rest.is_empty() {
        rest
    } else if let Some(v) = rest.strip_prefix(' ') {
        v
    } else {
        return Err(Error::narinfo(
            lineno,
            key,
            format!("expected a space after `{key}:`"),
        ));
    };
    Ok((key, value))
}

fn is_key(k: &str) -> bool {
    !k.is_empty()
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A plain decimal `u64` (digits only, no sign or spaces).
fn parse_u64(v: &str) -> Option<u64> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok()
}

/// A non-empty value without whitespace.
fn check_token(v: &str, what: &str) -> std::result::Result<(), String> {
    if v.is_empty() {
        Err(format!("expected {what}, got an empty value"))
    } else if v.chars().any(char::is_whitespace) {
        Err(format!("expected {what} without spaces, got {}", quote(v)))
    } else {
        Ok(())
    }
}

/// Refuses more `field` lines than URL lines, naming the first extra line.
fn check_group_count(
    field: &str,
    lines: impl ExactSizeIterator<Item = usize>,
    nurls: usize,
) -> Result<()> {
    let n = lines.len();
    let mut lines = lines;
    if let Some(line) = lines.nth(nurls) {
        return Err(Error::narinfo(
            line,
            field,
            format!(
                "{n} {field} line{} but only {nurls} URL line{} (the i-th {field} belongs to the i-th URL)",
                if n == 1 { "" } else { "s" },
                if nurls == 1 { "" } else { "s" }
            ),
        ));
    }
    Ok(())
}

/// Decodes `sha256:<52 nix32 chars>` or `sha256:<64 hex chars>`.
pub(crate) fn decode_sha256(value: &str) -> Option<[u8; 32]> {
    let h = value.strip_prefix("sha256:")?;
    match h.len() {
        52 => nix32::decode_array::<32>(h).ok(),
        64 => {
            let mut out = [0u8; 32];
            hex::decode_to_slice(h, &mut out).ok()?;
            Some(out)
        }
        _ => None,
    }
}

/// Whether `b` may appear in a store-path name.
fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.' | b'_' | b'?' | b'=')
}

/// Checks a store-path base name `<32 nix32 chars>-<name>`. On success the
/// whole string is ASCII, so slicing it at 32 and 33 is safe.
pub(crate) fn check_base_name(s: &str) -> std::result::Result<(), String> {
    let b = s.as_bytes();
    let (Some(hash), Some(&dash), Some(name)) = (b.get(..32), b.get(32), b.get(33..)) else {
        return Err("expected <32 nix-base32 chars>-<name>".to_string());
    };
    if let Some(i) = b.iter().position(|&c| c == b'-').filter(|&i| i < 32) {
        return Err(format!(
            "hash part is {i} characters long, expected 32 before the `-`"
        ));
    }
    if let Some(i) = hash.iter().position(|&c| !nix32::is_nix32_char(c)) {
        return Err(format!(
            "hash part must be 32 nix-base32 characters (0-9, a-z without e, o, t, u); character {} is not",
            i + 1
        ));
    }
    if dash != b'-' {
        return Err("expected `-` after the 32-character hash part".to_string());
    }
    if name.is_empty() {
        return Err("empty name after the hash part".to_string());
    }
    if name.len() > MAX_NAME_LEN {
        return Err(format!("name longer than {MAX_NAME_LEN} characters"));
    }
    if name[0] == b'.' {
        return Err("name must not start with `.`".to_string());
    }
    if let Some(i) = name.iter().position(|&c| !is_name_byte(c)) {
        return Err(format!(
            "name has a character not allowed in store paths at position {} (allowed: A-Z a-z 0-9 + - . _ ? =)",
            i + 1
        ));
    }
    Ok(())
}

/// Checks a full store path and returns the length of its store directory.
pub(crate) fn check_store_path(p: &str) -> std::result::Result<usize, String> {
    let expected = "expected /<store dir>/<32 nix-base32 chars>-<name>";
    if !p.starts_with('/') {
        return Err(format!("{expected} (an absolute path), got {}", quote(p)));
    }
    let Some(slash) = p.rfind('/') else {
        return Err(format!("{expected}, got {}", quote(p)));
    };
    let dir = &p[..slash];
    let base = &p[slash + 1..];
    if dir.is_empty() {
        return Err(format!(
            "{expected}: the store directory must not be / itself, got {}",
            quote(p)
        ));
    }
    if dir
        .split('/')
        .skip(1)
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(format!(
            "{expected}: the store directory has an empty, . or .. component, got {}",
            quote(p)
        ));
    }
    if dir.chars().any(char::is_whitespace) {
        return Err(format!(
            "{expected}: the store directory has whitespace, got {}",
            quote(p)
        ));
    }
    check_base_name(base).map_err(|m| format!("{m}, got {}", quote(p)))?;
    Ok(slash)
}
