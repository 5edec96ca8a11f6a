//! A generator of realistic synthetic binary caches, for benchmarks and
//! large tests.
//!
//! Items form a reference DAG (an item only refers to earlier items, and most
//! refer to themselves) whose out-degree is heavy-tailed like real Guix and
//! Nix caches: a log-normal with median 5 gives a mean near 31 and a 99th
//! percentile near 550 (the realised figures are measured and returned, see
//! [`DegreeStats`]). Targets favour "foundation" items (the earliest ones,
//! as glibc and gcc-lib are in a real cache) and recent neighbours. Names are
//! `<name>-<version>[-<output>]`, NarSize is log-normal (median ≈ 300 KiB,
//! a multiple of 8) and FileSize is 30–40 % of it.
//!
//! Everything is deterministic from the seed: the same options always give
//! the same bytes.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use crate::narinfo::{Layout, NarinfoFields};
use crate::{nix32, Error, Narinfo, Result};

/// Which kind of cache to imitate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    /// `/gnu/store`, `nar/lzip/<base>` URLs, a `System:` line, unsigned.
    Guix,
    /// `/nix/store`, `nar/<filehash>.nar.xz` URLs with `FileHash`, unsigned.
    Nix,
}

impl Flavour {
    /// The store directory of this flavour.
    pub fn store_dir(self) -> &'static str {
        match self {
            Flavour::Guix => "/gnu/store",
            Flavour::Nix => "/nix/store",
        }
    }
}

/// How narinfo files are laid out in the output directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileLayout {
    /// `<dir>/<hash>.narinfo`, as `guix publish` and Nix `file://` caches do.
    Flat,
    /// `<dir>/<first two hash chars>/<hash>.narinfo`.
    TwoLevel,
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct SynthOptions {
    /// Number of narinfos.
    pub count: usize,
    /// Seed of the pseudo-random generator.
    pub seed: u64,
    /// Guix-like or Nix-like.
    pub flavour: Flavour,
    /// File layout for [`write_cache`].
    pub layout: FileLayout,
    /// Whether [`write_cache`] also writes an empty file where each URL
    /// points (under `<dir>/nar/…`).
    pub nar_files: bool,
}

impl Default for SynthOptions {
    fn default() -> Self {
        SynthOptions {
            count: 1000,
            seed: 1,
            flavour: Flavour::Guix,
            layout: FileLayout::Flat,
            nar_files: false,
        }
    }
}

/// Summary statistics of the realised reference out-degrees (self
/// references included).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DegreeStats {
    /// Number of items.
    pub items: usize,
    /// Median out-degree.
    pub median: usize,
    /// Mean out-degree.
    pub mean: f64,
    /// 99th percentile out-degree.
    pub p99: usize,
    /// Largest out-degree.
    pub max: usize,
    /// Share of items that refer to themselves, in [0, 1].
    pub self_ref_share: f64,
}

impl DegreeStats {
    /// Computes the statistics of `degrees` with `self_refs` items referring
    /// to themselves.
    pub fn from_degrees(mut degrees: Vec<usize>, self_refs: usize) -> DegreeStats {
        degrees.sort_unstable();
        let n = degrees.len();
        let at = |q: f64| -> usize {
            if n == 0 {
                return 0;
            }
            let i = ((n as f64 - 1.0) * q).round() as usize;
            degrees.get(i.min(n - 1)).copied().unwrap_or(0)
        };
        let sum: usize = degrees.iter().sum();
        DegreeStats {
            items: n,
            median: at(0.5),
            mean: if n == 0 { 0.0 } else { sum as f64 / n as f64 },
            p99: at(0.99),
            max: degrees.last().copied().unwrap_or(0),
            self_ref_share: if n == 0 {
                0.0
            } else {
                self_refs as f64 / n as f64
            },
        }
    }
}

impl std::fmt::Display for DegreeStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} items, references per item: median {}, mean {:.1}, p99 {}, max {}; {:.0}% refer to themselves",
            self.items,
            self.median,
            self.mean,
            self.p99,
            self.max,
            self.self_ref_share * 100.0
        )
    }
}

/// A small, fast, deterministic pseudo-random generator (SplitMix64). Not
/// for cryptography.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5851_f42d_4c95_7f2d)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A uniform float in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A uniform integer in [0, n); 0 when `n` is 0.
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            ((self.next_u64() as u128 * n as u128) >> 64) as usize
        }
    }

    /// A standard normal variate (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.unit(); // (0, 1]
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    /// `len` random bytes.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + 8);
        while out.len() < len {
            out.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        out.truncate(len);
        out
    }
}

/// Parameters of the out-degree distribution: log-normal, median
/// `exp(DEGREE_MU)`, shape `DEGREE_SIGMA`, capped at `DEGREE_CAP`.
const DEGREE_MU: f64 = 1.609_437_9; // ln 5
const DEGREE_SIGMA: f64 = 2.0;
const DEGREE_CAP: usize = 1000;
/// Share of items that refer to themselves.
const SELF_REF_SHARE: f64 = 0.85;

const NAMES: &[&str] = &[
    "glibc",
    "gcc",
    "binutils",
    "bash",
    "coreutils",
    "zlib",
    "openssl",
    "perl",
    "python",
    "guile",
    "libffi",
    "ncurses",
    "readline",
    "sqlite",
    "curl",
    "git",
    "gnutls",
    "nettle",
    "libxml2",
    "libxslt",
    "expat",
    "pcre2",
    "bzip2",
    "xz",
    "zstd",
    "lzip",
    "gzip",
    "tar",
    "sed",
    "grep",
    "gawk",
    "findutils",
    "diffutils",
    "patch",
    "make",
    "cmake",
    "meson",
    "ninja",
    "pkg-config",
    "autoconf",
    "automake",
    "libtool",
    "gettext",
    "texinfo",
    "icu4c",
    "boost",
    "llvm",
    "clang",
    "rust",
    "go",
    "ghc",
    "ocaml",
    "emacs",
    "vim",
    "nano",
    "less",
    "openssh",
    "gnupg",
    "libgcrypt",
    "libgpg-error",
    "util-linux",
    "e2fsprogs",
    "shadow",
    "linux-pam",
    "dbus",
    "systemd",
    "eudev",
    "mesa",
    "libdrm",
    "wayland",
    "libx11",
    "libxcb",
    "freetype",
    "fontconfig",
    "cairo",
    "pango",
    "harfbuzz",
    "glib",
    "gtk",
    "qtbase",
    "ffmpeg",
    "libpng",
    "libjpeg-turbo",
    "libtiff",
    "libwebp",
    "imagemagick",
    "poppler",
    "ghostscript",
    "texlive-bin",
    "hello",
    "sed-test",
    "nginx",
    "postgresql",
    "mariadb",
    "redis",
    "node",
    "ruby",
    "php",
    "lua",
    "tcl",
    "tk",
    "libevent",
    "libuv",
    "nghttp2",
    "c-ares",
    "brotli",
];
const GUIX_OUTPUTS: &[&str] = &["", "", "", "", "", "-lib", "-doc", "-static", "-debug"];
const NIX_OUTPUTS: &[&str] = &["", "", "", "", "-lib", "-dev", "-bin", "-man", "-doc"];

/// One generated item, before rendering.
#[derive(Debug, Clone)]
pub struct SynthItem {
    /// Base name `<hash>-<name>`.
    pub base_name: String,
    /// Indices of earlier items referred to (self excluded).
    pub refs: Vec<usize>,
    /// Whether the item refers to itself.
    pub self_ref: bool,
    /// NarSize.
    pub nar_size: u64,
    /// FileSize of the compressed nar.
    pub file_size: u64,
    /// NarHash digest (32 bytes).
    pub nar_hash: Vec<u8>,
    /// FileHash digest (32 bytes).
    pub file_hash: Vec<u8>,
    /// Deriver base name.
    pub deriver: String,
}

/// The generator: yields items in DAG order (every reference points to an
/// earlier item), remembering base names so later items can refer to them.
#[derive(Debug)]
pub struct Generator {
    opts: SynthOptions,
    rng: Rng,
    names: Vec<Box<str>>,
    degrees: Vec<usize>,
    self_refs: usize,
}

impl Generator {
    /// A generator for `opts`.
    pub fn new(opts: SynthOptions) -> Generator {
        Generator {
            rng: Rng::new(opts.seed),
            names: Vec::with_capacity(opts.count),
            degrees: Vec::with_capacity(opts.count),
            self_refs: 0,
            opts,
        }
    }

    /// The realised out-degree statistics of the items generated so far.
    pub fn stats(&self) -> DegreeStats {
        DegreeStats::from_degrees(self.degrees.clone(), self.self_refs)
    }

    /// The base name of the `i`-th generated item.
    pub fn base_name(&self, i: usize) -> Option<&str> {
        self.names.get(i).map(|s| &**s)
    }

    fn sample_degree(&mut self) -> usize {
        let x = (DEGREE_MU + DEGREE_SIGMA * self.rng.normal()).exp();
        (x.round() as usize).min(DEGREE_CAP)
    }

    /// Generates the next item, or `None` after `count` items.
    pub fn next_item(&mut self) -> Option<SynthItem> {
        let i = self.names.len();
        if i >= self.opts.count {
            return None;
        }
        let rng = &mut self.rng;
        let hash = nix32::encode(&rng.bytes(20));
        let pkg = NAMES[rng.below(NAMES.len())];
        let outputs = match self.opts.flavour {
            Flavour::Guix => GUIX_OUTPUTS,
            Flavour::Nix => NIX_OUTPUTS,
        };
        let output = outputs[rng.below(outputs.len())];
        let version = match rng.below(4) {
            0 => format!("{}.{}", 1 + rng.below(20), rng.below(30)),
            1 => format!("{}.{}.{}", rng.below(10), rng.below(40), rng.below(20)),
            2 => format!("{}", 1 + rng.below(200)),
            _ => format!(
                "{}.{}.{}.{}",
                rng.below(5),
                rng.below(10),
                rng.below(10),
                rng.below(99)
            ),
        };
        let name = format!("{pkg}-{version}{output}");
        let base_name = format!("{hash}-{name}");
        let deriver = format!("{}-{pkg}-{version}.drv", nix32::encode(&rng.bytes(20)));

        let degree = self.sample_degree();
        let self_ref = degree > 0 && self.rng.unit() < SELF_REF_SHARE;
        let wanted = (degree - usize::from(self_ref)).min(i);
        let refs = self.pick_targets(i, wanted);

        let nar_size = {
            let x = (12.6 + 1.8 * self.rng.normal()).exp(); // median ≈ 300 KiB
            (x as u64).clamp(120, 1 << 36).div_ceil(8) * 8
        };
        let file_size = (nar_size as f64 * (0.30 + 0.10 * self.rng.unit())) as u64;
        let nar_hash = self.rng.bytes(32);
        let file_hash = self.rng.bytes(32);

        self.degrees.push(refs.len() + usize::from(self_ref));
        self.self_refs += usize::from(self_ref);
        self.names.push(base_name.clone().into_boxed_str());
        Some(SynthItem {
            base_name,
            refs,
            self_ref,
            nar_size,
            file_size,
            nar_hash,
            file_hash,
            deriver,
        })
    }

    /// `wanted` distinct indices below `i`: a mix of foundation items (low
    /// indices, strongly favoured) and recent neighbours.
    fn pick_targets(&mut self, i: usize, wanted: usize) -> Vec<usize> {
        if wanted >= i {
            return (0..i).collect();
        }
        let mut chosen = HashSet::with_capacity(wanted * 2);
        let mut out = Vec::with_capacity(wanted);
        let mut attempts = 0;
        while out.len() < wanted && attempts < wanted * 20 {
            attempts += 1;
            let u = self.rng.unit();
            let t = if self.rng.unit() < 0.6 {
                ((i as f64) * u * u * u) as usize
            } else {
                let window = i.min(5000);
                i - 1 - ((window as f64) * u) as usize
            };
            let t = t.min(i - 1);
            if chosen.insert(t) {
                out.push(t);
            }
        }
        // Dense cases: fill with the lowest unused indices.
        let mut next = 0;
        while out.len() < wanted {
            if chosen.insert(next) {
                out.push(next);
            }
            next += 1;
        }
        out
    }

    /// Renders an item as a narinfo with [`Narinfo::build`].
    pub fn render(&self, item: &SynthItem) -> Result<Narinfo> {
        let store_dir = self.opts.flavour.store_dir();
        let mut references: Vec<String> = item
            .refs
            .iter()
            .filter_map(|&r| self.base_name(r).map(str::to_string))
            .collect();
        if item.self_ref {
            references.push(item.base_name.clone());
        }
        references.sort();
        let file_hash = format!("sha256:{}", nix32::encode(&item.file_hash));
        let (url, compression, layout, system, file_hash) = match self.opts.flavour {
            Flavour::Guix => (
                format!("nar/lzip/{}", item.base_name),
                "lzip",
                Layout::Guix,
                Some("x86_64-linux".to_string()),
                None,
            ),
            Flavour::Nix => (
                format!("nar/{}.nar.xz", nix32::encode(&item.file_hash)),
                "xz",
                Layout::Nix,
                None,
                Some(file_hash),
            ),
        };
        let fields = NarinfoFields {
            store_path: format!("{store_dir}/{}", item.base_name),
            nar_hash: format!("sha256:{}", nix32::encode(&item.nar_hash)),
            nar_size: item.nar_size,
            references,
            deriver: Some(item.deriver.clone()),
            system,
            files: vec![crate::narinfo::NarFile {
                url,
                compression: Some(compression.to_string()),
                file_size: Some(item.file_size),
                file_hash,
            }],
            ..NarinfoFields::default()
        };
        Narinfo::build(&fields, layout)
    }
}

/// What [`write_cache`] wrote.
#[derive(Debug, Clone)]
pub struct SynthSummary {
    /// Number of narinfo files written.
    pub narinfos: usize,
    /// Total bytes of narinfo text written.
    pub bytes: u64,
    /// Realised out-degree statistics.
    pub degrees: DegreeStats,
}

/// The path of the narinfo file for `hash` in `dir` under `layout`.
pub fn narinfo_path(dir: &Path, hash: &str, layout: FileLayout) -> PathBuf {
    match layout {
        FileLayout::Flat => dir.join(format!("{hash}.narinfo")),
        FileLayout::TwoLevel => dir
            .join(hash.get(..2).unwrap_or("__"))
            .join(format!("{hash}.narinfo")),
    }
}

/// Writes a synthetic cache of `opts.count` narinfos into `dir` (created if
/// missing), with empty nar files under `dir/nar/…` when `opts.nar_files`.
pub fn write_cache(dir: &Path, opts: &SynthOptions) -> Result<SynthSummary> {
    fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut gen = Generator::new(opts.clone());
    let mut made_dirs = HashSet::new();
    let mut bytes = 0u64;
    let mut narinfos = 0usize;
    while let Some(item) = gen.next_item() {
        let narinfo = gen.render(&item)?;
        let path = narinfo_path(dir, narinfo.hash_part(), opts.layout);
        ensure_parent(&path, &mut made_dirs)?;
        fs::write(&path, narinfo.text()).map_err(|e| Error::io(&path, e))?;
        bytes += narinfo.text().len() as u64;
        narinfos += 1;
        if opts.nar_files {
            for file in narinfo.files() {
                let rel = crate::storage::url_to_relative(&file.url)?;
                let nar = dir.join(rel);
                ensure_parent(&nar, &mut made_dirs)?;
                fs::write(&nar, b"").map_err(|e| Error::io(&nar, e))?;
            }
        }
    }
    Ok(SynthSummary {
        narinfos,
        bytes,
        degrees: gen.stats(),
    })
}

fn ensure_parent(path: &Path, made: &mut HashSet<PathBuf>) -> Result<()> {
    if let Some(parent) = path.parent() {
        if !made.contains(parent) {
            fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
            made.insert(parent.to_path_buf());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn degrees_match_real_data() {
        let mut gen = Generator::new(SynthOptions {
            count: 50_000,
            seed: 7,
            ..SynthOptions::default()
        });
        while gen.next_item().is_some() {}
        let s = gen.stats();
        assert!((4..=6).contains(&s.median), "{s}");
        assert!((24.0..=38.0).contains(&s.mean), "{s}");
        assert!((400..=700).contains(&s.p99), "{s}");
        assert!(s.self_ref_share > 0.7, "{s}");
    }

    #[test]
    fn references_only_point_backwards_and_are_distinct() {
        let mut gen = Generator::new(SynthOptions {
            count: 3000,
            seed: 3,
            ..SynthOptions::default()
        });
        let mut i = 0;
        while let Some(item) = gen.next_item() {
            let set: HashSet<_> = item.refs.iter().collect();
            assert_eq!(set.len(), item.refs.len());
            assert!(item.refs.iter().all(|&r| r < i));
            assert_eq!(item.nar_size % 8, 0);
            assert!(item.file_size * 10 >= item.nar_size * 3);
            i += 1;
        }
    }

    #[test]
    fn deterministic_from_seed() {
        let run = |seed| {
            let mut gen = Generator::new(SynthOptions {
                count: 200,
                seed,
                ..SynthOptions::default()
            });
            let mut v = Vec::new();
            while let Some(item) = gen.next_item() {
                v.push((item.base_name, item.refs, item.nar_size));
            }
            v
        };
        assert_eq!(run(5), run(5));
        assert_ne!(run(5), run(6));
    }
}
