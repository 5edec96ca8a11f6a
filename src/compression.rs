//! The compressions of nar files that narinfos name (`Compression:`), as
//! streaming decoders, and the digest of the nar inside a compressed file.
//!
//! Nix writes `xz` (its default), `zstd`, `bzip2`, `gzip` and `none`;
//! `guix publish` writes `lzip`, `zstd`, `gzip` and `none`. Brotli and lz4
//! (rare, Nix only) are not decoded: [`Compression::parse`] names them as
//! unsupported. Decoders accept concatenated streams, as the command-line
//! tools do.

use std::io::{self, Read};
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// Largest memory an xz or lzip decoder may use (the dictionary): xz's
/// strongest preset needs 64 MiB, lzip's 32 MiB.
const LZMA_MEMLIMIT: u64 = 256 << 20;

/// A compression that can be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// `none` (or no `Compression:` line): the file is the nar.
    None,
    /// `xz`.
    Xz,
    /// `zstd`.
    Zstd,
    /// `bzip2`.
    Bzip2,
    /// `gzip`.
    Gzip,
    /// `lzip`.
    Lzip,
}

impl Compression {
    /// The compression named by a narinfo's `Compression:` value (`None`
    /// for an absent line). An unknown or undecodable name is an error
    /// naming it.
    pub fn parse(name: Option<&str>) -> Result<Compression> {
        Ok(match name.map(str::trim) {
            None | Some("") | Some("none") => Compression::None,
            Some("xz") => Compression::Xz,
            Some("zstd") => Compression::Zstd,
            Some("bzip2") => Compression::Bzip2,
            Some("gzip") => Compression::Gzip,
            Some("lzip") => Compression::Lzip,
            Some(other) => {
                return Err(Error::InvalidArgument(format!(
                    "Compression {other:?} cannot be decoded here \
                     (expected none, xz, zstd, bzip2, gzip or lzip)"
                )))
            }
        })
    }

    /// The name a narinfo uses.
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Xz => "xz",
            Compression::Zstd => "zstd",
            Compression::Bzip2 => "bzip2",
            Compression::Gzip => "gzip",
            Compression::Lzip => "lzip",
        }
    }

    /// A reader of the decompressed bytes of `inner`.
    pub fn decoder<'a, R: Read + Send + 'a>(
        self,
        inner: R,
    ) -> io::Result<Box<dyn Read + Send + 'a>> {
        let inner = io::BufReader::with_capacity(64 * 1024, inner);
        Ok(match self {
            Compression::None => Box::new(inner),
            Compression::Xz => {
                let stream = liblzma::stream::Stream::new_stream_decoder(
                    LZMA_MEMLIMIT,
                    liblzma::stream::CONCATENATED,
                )
                .map_err(io::Error::other)?;
                Box::new(liblzma::bufread::XzDecoder::new_stream(inner, stream))
            }
            Compression::Lzip => {
                let stream = liblzma::stream::Stream::new_lzip_decoder(
                    LZMA_MEMLIMIT,
                    liblzma::stream::CONCATENATED,
                )
                .map_err(io::Error::other)?;
                Box::new(liblzma::bufread::XzDecoder::new_stream(inner, stream))
            }
            Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(inner)?),
            Compression::Bzip2 => Box::new(bzip2::bufread::MultiBzDecoder::new(inner)),
            Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(inner)),
        })
    }
}

/// The size and SHA-256 of the nar inside the file at `path`, compressed
/// with `compression`. Reads at most `limit + 1` decompressed bytes (a
/// larger result is returned as `limit + 1`: the caller compares it with
/// the expected size), so a small file cannot make it decompress forever.
pub fn nar_digest(path: &Path, compression: Compression, limit: u64) -> Result<(u64, [u8; 32])> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let decoder = compression.decoder(file).map_err(|e| Error::io(path, e))?;
    let mut reader = decoder.take(limit.saturating_add(1));
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut size: u64 = 0;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(Error::InvalidArgument(format!(
                    "{}: not valid {} data: {e}",
                    path.display(),
                    compression.name()
                )))
            }
        };
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((size, hasher.finalize().into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn compress(c: Compression, data: &[u8]) -> Vec<u8> {
        match c {
            Compression::None => data.to_vec(),
            Compression::Xz => {
                let mut e = liblzma::write::XzEncoder::new(Vec::new(), 6);
                e.write_all(data).unwrap();
                e.finish().unwrap()
            }
            Compression::Zstd => zstd::encode_all(data, 3).unwrap(),
            Compression::Bzip2 => {
                let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
                e.write_all(data).unwrap();
                e.finish().unwrap()
            }
            Compression::Gzip => {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                e.write_all(data).unwrap();
                e.finish().unwrap()
            }
            Compression::Lzip => unreachable!("no lzip encoder here"),
        }
    }

    #[test]
    fn digests_match_for_every_compression() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let want: [u8; 32] = Sha256::digest(&data).into();
        for c in [
            Compression::None,
            Compression::Xz,
            Compression::Zstd,
            Compression::Bzip2,
            Compression::Gzip,
        ] {
            let path = dir.path().join(c.name());
            std::fs::write(&path, compress(c, &data)).unwrap();
            let (size, hash) = nar_digest(&path, c, data.len() as u64).unwrap();
            assert_eq!((size, hash), (data.len() as u64, want), "{c:?}");
            // A limit below the size stops early.
            let (size, _) = nar_digest(&path, c, 10).unwrap();
            assert_eq!(size, 11, "{c:?}");
            assert_eq!(Compression::parse(Some(c.name())).unwrap(), c);
        }
    }

    #[test]
    fn lzip_is_decoded() {
        // `printf 'hello\n' | lzip -9`, an lzip member of "hello\n".
        let lz: &[u8] = &[
            0x4c, 0x5a, 0x49, 0x50, 0x01, 0x0c, 0x00, 0x34, 0x19, 0x49, 0xee, 0x8d, 0xdd, 0x3d,
            0x3a, 0xdf, 0xff, 0xff, 0xdd, 0x12, 0x00, 0x00, 0x20, 0x30, 0x3a, 0x36, 0x06, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        ];
        let mut out = Vec::new();
        Compression::Lzip
            .decoder(lz)
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, b"hello\n");
    }

    #[test]
    fn garbage_and_unknown_names_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad");
        std::fs::write(&path, b"this is not compressed at all").unwrap();
        for c in [
            Compression::Xz,
            Compression::Zstd,
            Compression::Bzip2,
            Compression::Gzip,
            Compression::Lzip,
        ] {
            let e = nar_digest(&path, c, 1000).unwrap_err().to_string();
            assert!(e.contains(c.name()), "{c:?}: {e}");
        }
        assert!(Compression::parse(Some("br")).is_err());
        assert_eq!(Compression::parse(None).unwrap(), Compression::None);
    }
}
