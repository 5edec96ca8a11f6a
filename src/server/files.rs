//! `GET`/`HEAD /file/<name>/sha256/<hash>`: content-addressed files, as
//! `guix publish` serves them (Guix's content-addressed mirrors ask for
//! source tarballs this way).
//!
//! The file is the store item that a flat, SHA-256 fixed-output derivation
//! named `<name>` with that hash produces: its store path is computed from
//! name and hash, its narinfo looked up on the hot path, and the file's
//! bytes are the contents of the single regular file in its nar, served
//! from the stored nar file (uncompressed: a byte range of it; compressed:
//! decompressed on the fly), with Content-Length and Range.

use std::io::Read;

use hyper::{Request, Response, StatusCode};
use sha2::{Digest, Sha256};

use super::body::Body;
use super::nar::{narinfo_source, ranged, Source};
use super::routes::error;
use super::State;
use crate::changes::item_key;
use crate::narinfo::Narinfo;

const FILE_TYPE: &str = "application/octet-stream";

/// The store path of the flat SHA-256 fixed-output item `name` whose
/// contents hash to `sha256`, in `store_dir` (Nix's and Guix's
/// `fixed-output-path` for a non-recursive SHA-256 hash).
pub fn fixed_output_path(store_dir: &str, name: &str, sha256: &[u8; 32]) -> String {
    let inner = Sha256::digest(format!("fixed:out:sha256:{}:", hex::encode(sha256)));
    let outer = Sha256::digest(format!(
        "output:out:sha256:{}:{store_dir}:{name}",
        hex::encode(inner)
    ));
    let mut folded = [0u8; 20];
    for (i, b) in outer.iter().enumerate() {
        folded[i % 20] ^= b;
    }
    format!("{store_dir}/{}-{name}", crate::nix32::encode(&folded))
}

/// Whether `name` is a valid store path name (what follows `<hash>-`).
pub(super) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 211
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-._?=".contains(&b))
}

/// Where the contents of a nar holding one regular file start, and how
/// long they are, from the nar's first bytes. `None` when the nar is not a
/// single regular file.
pub fn regular_file_contents(nar: &mut impl Read) -> std::io::Result<Option<(u64, u64)>> {
    fn token(r: &mut impl Read, offset: &mut u64) -> std::io::Result<Option<Vec<u8>>> {
        let mut len = [0u8; 8];
        r.read_exact(&mut len)?;
        let len = u64::from_le_bytes(len);
        if len > 64 {
            return Ok(None);
        }
        let padded = len.div_ceil(8) * 8;
        let mut buf = vec![0u8; padded as usize];
        r.read_exact(&mut buf)?;
        *offset += 8 + padded;
        buf.truncate(len as usize);
        Ok(Some(buf))
    }
    let mut offset = 0;
    for want in [&b"nix-archive-1"[..], b"(", b"type", b"regular"] {
        if token(nar, &mut offset)?.as_deref() != Some(want) {
            return Ok(None);
        }
    }
    let mut next = token(nar, &mut offset)?;
    if next.as_deref() == Some(b"executable") {
        if token(nar, &mut offset)?.as_deref() != Some(b"") {
            return Ok(None);
        }
        next = token(nar, &mut offset)?;
    }
    if next.as_deref() != Some(b"contents") {
        return Ok(None);
    }
    let mut len = [0u8; 8];
    nar.read_exact(&mut len)?;
    Ok(Some((offset + 8, u64::from_le_bytes(len))))
}

/// Parses `<name>/sha256/<hash>` (after `/file/`); the hash in nix32 or
/// hex.
fn parse(rest: &str) -> Option<(&str, [u8; 32])> {
    let (name, hash) = rest.split_once("/sha256/")?;
    if !valid_name(name) || hash.contains('/') {
        return None;
    }
    let bytes = match hash.len() {
        52 => crate::nix32::decode_array(hash).ok()?,
        64 => hex::decode(hash).ok()?.try_into().ok()?,
        _ => return None,
    };
    Some((name, bytes))
}

/// `GET`/`HEAD /file/…`.
pub(super) async fn serve<B>(
    state: &State,
    req: &Request<B>,
    rest: &str,
    head: bool,
) -> Response<Body> {
    let not_found = || {
        error(
            StatusCode::NOT_FOUND,
            "no such content-addressed file",
            None,
        )
    };
    let Some((name, sha256)) = parse(rest) else {
        return not_found();
    };
    let Some(storage) = &state.storage else {
        return not_found();
    };
    let path = fixed_output_path(state.store.store_dir(), name, &sha256);
    let Some(key) = path
        .rsplit('/')
        .next()
        .and_then(|base| base.get(..32))
        .and_then(item_key)
    else {
        return not_found();
    };
    let text = match state.hot.get_key(&key).await {
        Ok(Some(t)) => t,
        Ok(None) => return not_found(),
        Err(e) => {
            tracing::error!("looking up {path}: {e}");
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the database is not answering",
                None,
            );
        }
    };
    let Some(narinfo) = std::str::from_utf8(&text)
        .ok()
        .and_then(|t| Narinfo::parse_in(t, state.store.store_dir()).ok())
        .filter(|n| n.store_path() == path)
    else {
        return not_found();
    };
    let Some(source) = narinfo_source(storage, &narinfo, 0) else {
        return not_found();
    };
    // Read the nar's header (decompressing its first bytes if need be).
    let (file, compression) = match &source {
        Source::File { path, .. } => (path.clone(), crate::compression::Compression::None),
        Source::Decoded {
            path, compression, ..
        } => (path.clone(), *compression),
    };
    let header = tokio::task::spawn_blocking(move || {
        let f = std::fs::File::open(&file)?;
        regular_file_contents(&mut compression.decoder(f)?)
    })
    .await
    .unwrap_or_else(|e| Err(std::io::Error::other(e)));
    let (offset, len) = match header {
        Ok(Some(h)) => h,
        Ok(None) => {
            return error(
                StatusCode::NOT_FOUND,
                "that store item is not a single regular file",
                None,
            )
        }
        Err(e) => {
            tracing::error!("reading the nar of {path}: {e}");
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot read the nar file",
                None,
            );
        }
    };
    let source = match source {
        Source::File { path, .. } => Source::File { path, offset },
        Source::Decoded {
            path, compression, ..
        } => Source::Decoded {
            path,
            compression,
            offset,
        },
    };
    ranged(req, source, len, FILE_TYPE, head, || {
        state.analytics.nar_download(Some(&key))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_output_paths() {
        // `printf 'hello\n' > hello.txt; nix-store --add-fixed sha256 hello.txt`
        let h: [u8; 32] =
            hex::decode("5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03")
                .unwrap()
                .try_into()
                .unwrap();
        assert_eq!(
            fixed_output_path("/nix/store", "hello.txt", &h),
            "/nix/store/gy454w1cxaq731grqwylhzf4pp9r5izh-hello.txt"
        );
    }

    #[test]
    fn names_and_hashes() {
        let h = [7u8; 32];
        let hex = hex::encode(h);
        let n32 = crate::nix32::encode(&h);
        assert_eq!(
            parse(&format!("hello-2.12.tar.gz/sha256/{hex}")),
            Some(("hello-2.12.tar.gz", h))
        );
        assert_eq!(parse(&format!("hello/sha256/{n32}")), Some(("hello", h)));
        assert_eq!(parse(&format!("../x/sha256/{hex}")), None);
        assert_eq!(parse(&format!(".x/sha256/{hex}")), None);
        assert_eq!(parse(&format!("x/sha1/{hex}")), None);
        assert_eq!(parse("x/sha256/short"), None);
        assert_eq!(parse(&format!("a/b/sha256/{hex}")), None);
    }

    #[test]
    fn regular_file_nars() {
        fn s(out: &mut Vec<u8>, t: &[u8]) {
            out.extend((t.len() as u64).to_le_bytes());
            out.extend(t);
            out.resize(out.len().div_ceil(8) * 8, 0);
        }
        for exec in [false, true] {
            let mut nar = Vec::new();
            for t in [&b"nix-archive-1"[..], b"(", b"type", b"regular"] {
                s(&mut nar, t);
            }
            if exec {
                s(&mut nar, b"executable");
                s(&mut nar, b"");
            }
            s(&mut nar, b"contents");
            let at = nar.len() as u64 + 8;
            s(&mut nar, b"hello!\n");
            s(&mut nar, b")");
            let got = regular_file_contents(&mut nar.as_slice()).unwrap();
            assert_eq!(got, Some((at, 7)));
            assert_eq!(&nar[at as usize..at as usize + 7], b"hello!\n");
        }
        let mut dir = Vec::new();
        for t in [&b"nix-archive-1"[..], b"(", b"type", b"directory"] {
            s(&mut dir, t);
        }
        assert_eq!(regular_file_contents(&mut dir.as_slice()).unwrap(), None);
        assert!(regular_file_contents(&mut &b"short"[..]).is_err());
    }
}
