//! Writing narinfos: building one from fields, and the few edits a server
//! makes (adding a signature, changing the URL groups) without touching the
//! bytes a signature covers.
//!
//! Every result goes through the parser, so writing validates exactly as
//! reading does.

use super::parse::quote;
use super::{NarFile, Narinfo};
use crate::{Error, Result};

/// Which program's layout to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// As current `guix publish` writes.
    Guix,
    /// As Nix writes.
    Nix,
}

/// The fields of a narinfo to write (everything but signatures).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NarinfoFields {
    /// Full store path, e.g. `/gnu/store/<hash>-hello-2.12`.
    pub store_path: String,
    /// `NarHash`, e.g. `sha256:<52 nix32 chars>`.
    pub nar_hash: String,
    /// `NarSize` in bytes.
    pub nar_size: u64,
    /// References as base names (`<hash>-<name>`), in the order to write.
    pub references: Vec<String>,
    /// `Deriver` as a base name ending in `.drv`.
    pub deriver: Option<String>,
    /// `System`, e.g. `x86_64-linux`.
    pub system: Option<String>,
    /// `CA` (content address).
    pub ca: Option<String>,
    /// The URL groups, in order; at least one.
    pub files: Vec<NarFile>,
}

impl Narinfo {
    /// Writes a narinfo in the given layout, then parses the result, so a
    /// built narinfo passes exactly the validation a parsed one does.
    ///
    /// [`Layout::Guix`] writes, as current `guix publish` does, `StorePath`,
    /// `NarHash`, `NarSize`, `References`, then `System`, `Deriver` and `CA`
    /// when present — the block a Guix signature covers — and then the URL
    /// groups (`URL`, `Compression`, `FileSize`, `FileHash`), which
    /// [`Narinfo::with_guix_signature`] leaves in the unsigned tail.
    /// [`Layout::Nix`] writes Nix's order: `StorePath`, the URL groups
    /// (`URL`, `Compression`, `FileHash`, `FileSize`), `NarHash`, `NarSize`,
    /// `References`, `Deriver`, `System`, `CA`. Empty references are
    /// written `References: ` with the trailing space, as both programs do.
    ///
    /// Errors when a value holds a newline or control character, when the
    /// URL groups cannot be told apart once written (a later group has a
    /// `Compression`, `FileSize` or `FileHash` an earlier one lacks), or
    /// when a field would not read back as given.
    pub fn build(fields: &NarinfoFields, layout: Layout) -> Result<Narinfo> {
        check_fields(fields)?;
        let mut out =
            String::with_capacity(256 + 64 * fields.references.len() + 128 * fields.files.len());
        line(&mut out, "StorePath", &fields.store_path);
        let nar_size = fields.nar_size.to_string();
        let references = fields.references.join(" ");
        match layout {
            Layout::Guix => {
                line(&mut out, "NarHash", &fields.nar_hash);
                line(&mut out, "NarSize", &nar_size);
                line(&mut out, "References", &references);
                opt_line(&mut out, "System", fields.system.as_deref());
                opt_line(&mut out, "Deriver", fields.deriver.as_deref());
                opt_line(&mut out, "CA", fields.ca.as_deref());
                for f in &fields.files {
                    group(&mut out, f, false);
                }
            }
            Layout::Nix => {
                for f in &fields.files {
                    group(&mut out, f, true);
                }
                line(&mut out, "NarHash", &fields.nar_hash);
                line(&mut out, "NarSize", &nar_size);
                line(&mut out, "References", &references);
                opt_line(&mut out, "Deriver", fields.deriver.as_deref());
                opt_line(&mut out, "System", fields.system.as_deref());
                opt_line(&mut out, "CA", fields.ca.as_deref());
            }
        }
        let n = Narinfo::parse(&out)?;
        same_fields(&n.fields(), fields)?;
        Ok(n)
    }

    /// The bytes a Guix signature must cover for
    /// [`Narinfo::with_guix_signature`]: the signed prefix when there is a
    /// `Signature:` line; otherwise the text without its trailing run of URL
    /// group (and `Sig:`) lines, which stay unsigned — for a narinfo built
    /// with [`Layout::Guix`] that is `StorePath` … `Deriver`.
    pub fn prefix_to_sign(&self) -> &str {
        &self.text[..self.prefix_to_sign_len()]
    }

    fn prefix_to_sign_len(&self) -> usize {
        if self.signature.is_some() {
            return self.signed_len;
        }
        let mut cut = self.text.len();
        for s in spans(&self.text).iter().rev() {
            if is_group_key(s.key) || s.key == "Sig" {
                cut = s.start;
            } else {
                break;
            }
        }
        cut
    }

    /// Returns this narinfo with `Signature: <value>` right after
    /// [`Narinfo::prefix_to_sign`], replacing an existing `Signature:` line.
    /// That prefix and the rest of the text are kept byte for byte, and the
    /// result's [`Narinfo::signed_prefix`] is that prefix.
    ///
    /// `value` is the Guix signature, `1;<host>;<base64>`, computed over
    /// [`Narinfo::prefix_to_sign`].
    pub fn with_guix_signature(&self, value: &str) -> Result<Narinfo> {
        check_value("Signature", value)?;
        let cut = self.prefix_to_sign_len();
        let prefix = &self.text[..cut];
        if !prefix.is_empty() && !prefix.ends_with('\n') {
            return Err(Error::narinfo(
                0,
                "Signature",
                "the text does not end with a newline, so a Signature line cannot follow it without changing the signed bytes",
            ));
        }
        let mut rest = &self.text[cut..];
        if self.signature.is_some() {
            rest = rest.split_once('\n').map_or("", |(_, after)| after);
        }
        let mut out = String::with_capacity(self.text.len() + value.len() + 12);
        out.push_str(prefix);
        line(&mut out, "Signature", value);
        out.push_str(rest);
        let n = Narinfo::parse_in(&out, &self.store_dir)?;
        debug_assert_eq!(n.signed_prefix(), prefix);
        Ok(n)
    }

    /// Returns this narinfo with a Nix `Sig: <sig>` line added after the
    /// existing `Sig:` lines, or where Nix puts it when there are none
    /// (before `CA:`, else at the end). `sig` is `<key name>:<base64>`.
    /// A place inside the signed prefix of a Guix-signed narinfo is never
    /// used: the line then goes at the end.
    pub fn with_nix_sig(&self, sig: &str) -> Result<Narinfo> {
        check_value("Sig", sig)?;
        let spans = spans(&self.text);
        let mut at = match spans.iter().rev().find(|s| s.key == "Sig") {
            Some(s) => s.end,
            None => spans
                .iter()
                .find(|s| s.key == "CA")
                .map_or(self.text.len(), |s| s.start),
        };
        if self.signature.is_some() && at < self.signed_len {
            // Never inside the bytes a Guix signature covers.
            at = self.text.len();
        }
        let mut out = String::with_capacity(self.text.len() + sig.len() + 6);
        out.push_str(&self.text[..at]);
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        line(&mut out, "Sig", sig);
        out.push_str(&self.text[at..]);
        let n = Narinfo::parse_in(&out, &self.store_dir)?;
        if n.signed_len < n.text.len() && n.signed_prefix() != self.signed_prefix() {
            return Err(Error::narinfo(
                0,
                "Sig",
                "adding the Sig line would change the bytes a Guix Signature covers",
            ));
        }
        Ok(n)
    }

    /// Returns this narinfo with its URL groups replaced by `files`.
    ///
    /// The new groups take the place of the first existing group line; all
    /// other lines are kept byte for byte. When the narinfo has a Guix
    /// `Signature:` line and a group line stands above it (as in 2017–2020
    /// `guix publish` output), this is an error: the change would invalidate
    /// the signature. Groups in the unsigned tail are rewritten freely and
    /// the signed prefix is never touched.
    pub fn with_files(&self, files: &[NarFile]) -> Result<Narinfo> {
        check_files(files)?;
        let spans = spans(&self.text);
        self.check_groups_unsigned(&spans)?;
        let nix_order = nix_group_order(&spans);
        let mut block = String::with_capacity(128 * files.len());
        for f in files {
            group(&mut block, f, nix_order);
        }
        let mut out = String::with_capacity(self.text.len() + block.len());
        let mut placed = false;
        for s in &spans {
            if is_group_key(s.key) {
                if !placed {
                    out.push_str(&block);
                    placed = true;
                }
            } else {
                out.push_str(&self.text[s.start..s.end]);
            }
        }
        if !placed {
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
            out.push_str(&block);
        }
        self.finish_files(&out, files)
    }

    /// Returns this narinfo with one more URL group after the existing ones
    /// (same rules as [`Narinfo::with_files`]); existing lines are kept byte
    /// for byte.
    pub fn with_added_file(&self, file: NarFile) -> Result<Narinfo> {
        let mut all = self.files.clone();
        all.push(file);
        check_files(&all)?;
        let spans = spans(&self.text);
        self.check_groups_unsigned(&spans)?;
        let at = spans
            .iter()
            .rev()
            .find(|s| is_group_key(s.key))
            .map_or(self.text.len(), |s| s.end);
        let mut out = String::with_capacity(self.text.len() + 200);
        out.push_str(&self.text[..at]);
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        if let Some(f) = all.last() {
            group(&mut out, f, nix_group_order(&spans));
        }
        out.push_str(&self.text[at..]);
        self.finish_files(&out, &all)
    }

    /// Refuses to touch URL groups that a Guix signature covers.
    fn check_groups_unsigned(&self, spans: &[Span<'_>]) -> Result<()> {
        if self.signature.is_none() {
            return Ok(());
        }
        if let Some((i, s)) = spans
            .iter()
            .enumerate()
            .find(|(_, s)| is_group_key(s.key) && s.start < self.signed_len)
        {
            return Err(Error::narinfo(
                i + 1,
                s.key,
                "this URL group line stands above Signature:, in the signed prefix; changing the URL groups would invalidate the signature",
            ));
        }
        Ok(())
    }

    /// Parses the rewritten text and checks it says what was asked.
    fn finish_files(&self, out: &str, files: &[NarFile]) -> Result<Narinfo> {
        let n = Narinfo::parse_in(out, &self.store_dir)?;
        if n.files() != files {
            return Err(Error::narinfo(
                0,
                "URL",
                "the rewritten URL groups do not read back as given",
            ));
        }
        if self.signature.is_some() && n.signed_prefix() != self.signed_prefix() {
            return Err(Error::narinfo(
                0,
                "URL",
                "rewriting the URL groups would change the signed prefix",
            ));
        }
        Ok(n)
    }
}

/// One line of a text: byte range (newline included) and key.
struct Span<'a> {
    start: usize,
    end: usize,
    key: &'a str,
}

fn spans(text: &str) -> Vec<Span<'_>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < text.len() {
        let rest = &text[pos..];
        let len = rest.find('\n').map_or(rest.len(), |i| i + 1);
        let line = &rest[..len];
        let key = line.split_once(':').map_or("", |(k, _)| k);
        out.push(Span {
            start: pos,
            end: pos + len,
            key,
        });
        pos += len;
    }
    out
}

fn is_group_key(key: &str) -> bool {
    matches!(key, "URL" | "Compression" | "FileSize" | "FileHash")
}

/// Whether the text writes its groups in Nix's order (FileHash before
/// FileSize) rather than Guix's (FileSize, then FileHash).
fn nix_group_order(spans: &[Span<'_>]) -> bool {
    let hash = spans.iter().position(|s| s.key == "FileHash");
    let size = spans.iter().position(|s| s.key == "FileSize");
    match (hash, size) {
        (Some(h), Some(s)) => h < s,
        (Some(_), None) => true,
        _ => false,
    }
}

/// Appends `Key: value\n`.
fn line(out: &mut String, key: &str, value: &str) {
    out.push_str(key);
    out.push_str(": ");
    out.push_str(value);
    out.push('\n');
}

fn opt_line(out: &mut String, key: &str, value: Option<&str>) {
    if let Some(v) = value {
        line(out, key, v);
    }
}

/// Appends one URL group in Nix's or Guix's order.
fn group(out: &mut String, f: &NarFile, nix_order: bool) {
    line(out, "URL", &f.url);
    opt_line(out, "Compression", f.compression.as_deref());
    let size = f.file_size.map(|s| s.to_string());
    if nix_order {
        opt_line(out, "FileHash", f.file_hash.as_deref());
        opt_line(out, "FileSize", size.as_deref());
    } else {
        opt_line(out, "FileSize", size.as_deref());
        opt_line(out, "FileHash", f.file_hash.as_deref());
    }
}

/// Refuses values that would break out of their line.
fn check_value(field: &str, value: &str) -> Result<()> {
    if let Some(c) = value.chars().find(|c| c.is_control()) {
        return Err(Error::narinfo(
            0,
            field,
            format!(
                "value {} holds the control character {c:?} and cannot be written on one line",
                quote(value)
            ),
        ));
    }
    Ok(())
}

fn check_fields(f: &NarinfoFields) -> Result<()> {
    check_value("StorePath", &f.store_path)?;
    check_value("NarHash", &f.nar_hash)?;
    for r in &f.references {
        check_value("References", r)?;
    }
    for (field, v) in [
        ("Deriver", &f.deriver),
        ("System", &f.system),
        ("CA", &f.ca),
    ] {
        if let Some(v) = v {
            check_value(field, v)?;
        }
    }
    check_files(&f.files)
}

/// Checks the values of URL groups and that the i-th `Compression`,
/// `FileSize` and `FileHash` lines will pair with the i-th `URL` when read
/// back: a group may only have one of those if every earlier group has it.
fn check_files(files: &[NarFile]) -> Result<()> {
    for f in files {
        check_value("URL", &f.url)?;
        if let Some(c) = &f.compression {
            check_value("Compression", c)?;
        }
        if let Some(h) = &f.file_hash {
            check_value("FileHash", h)?;
        }
    }
    type Has = fn(&NarFile) -> bool;
    let presence: [(&str, Has); 3] = [
        ("Compression", |f| f.compression.is_some()),
        ("FileSize", |f| f.file_size.is_some()),
        ("FileHash", |f| f.file_hash.is_some()),
    ];
    for (field, has) in presence {
        if let Some(missing) = files.iter().position(|f| !has(f)) {
            if let Some(later) = files.iter().skip(missing + 1).position(has) {
                return Err(Error::narinfo(
                    0,
                    field,
                    format!(
                        "URL group {} has a {field} but group {} has none: the i-th {field} line belongs to the i-th URL, so this cannot be written",
                        missing + later + 2,
                        missing + 1
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Checks that what was parsed back is what was asked for.
fn same_fields(got: &NarinfoFields, want: &NarinfoFields) -> Result<()> {
    let differs = if got.store_path != want.store_path {
        Some("StorePath")
    } else if got.nar_hash != want.nar_hash {
        Some("NarHash")
    } else if got.nar_size != want.nar_size {
        Some("NarSize")
    } else if got.references != want.references {
        Some("References")
    } else if got.deriver != want.deriver {
        Some("Deriver")
    } else if got.system != want.system {
        Some("System")
    } else if got.ca != want.ca {
        Some("CA")
    } else if got.files != want.files {
        Some("URL")
    } else {
        None
    };
    match differs {
        Some(field) => Err(Error::narinfo(
            0,
            field,
            "the value does not read back as given once written (e.g. a reference with a space, or Deriver `unknown-deriver`)",
        )),
        None => Ok(()),
    }
}
