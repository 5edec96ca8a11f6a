//! Bodies of the fuzz targets (`fuzz/fuzz_targets/*.rs`), kept in the
//! library so that `tests/fuzz_regressions.rs` runs the very same code over
//! the seed corpora and every input a fuzzer ever found, on stable Rust and
//! in the normal test suite.
//!
//! Each function takes arbitrary bytes, must never panic on them, and
//! panics only when a property that must hold is broken (a parsed narinfo
//! that does not keep its text, an encoding that does not round-trip, a
//! forged signature that verifies, a server answer with a 5xx status). The
//! trusted keys are the test keys of `tests/data/`, compiled in.
//!
//! Not a stable API: hidden from the documentation.

use std::sync::OnceLock;

use sha2::{Digest, Sha256};

use crate::narinfo::{parse_many, Layout};
use crate::sexp;
use crate::signing::guix::{self, Acl, GuixPublicKey, GuixSecretKey, GuixSignature};
use crate::signing::nix::{self as nixsig, NixPublicKey, NixSecretKey};
use crate::signing::{Keyring, Verdict};
use crate::{nix32, Narinfo};

const GUIX_TEST_PUB: &[u8] = include_bytes!("../tests/data/guix/keys/testhost.pub");
const GUIX_TEST_SEC: &[u8] = include_bytes!("../tests/data/guix/keys/testhost.sec");
const GUIX_BERLIN_PUB: &[u8] = include_bytes!("../tests/data/guix/keys/berlin.guixsd.org.pub");
const GUIX_BORDEAUX_PUB: &[u8] =
    include_bytes!("../tests/data/guix/keys/bordeaux.guix.gnu.org.pub");
const NIX_KEYS: &str = include_str!("../tests/data/nix/keys.txt");

/// The names of the targets, as `fuzz/fuzz_targets/<name>.rs` and
/// `fuzz/corpus/<name>/` spell them.
pub const TARGETS: &[&str] = &[
    "narinfo",
    "sexp",
    "nix32",
    "guix_signature",
    "nix_signature",
    "route",
    "import",
];

/// Runs the target called `name` on `data`; `false` for an unknown name.
pub fn run(name: &str, data: &[u8]) -> bool {
    match name {
        "narinfo" => narinfo(data),
        "sexp" => sexp(data),
        "nix32" => nix32(data),
        "guix_signature" => guix_signature(data),
        "nix_signature" => nix_signature(data),
        "route" => route(data),
        "import" => import(data),
        _ => return false,
    }
    true
}

struct Keys {
    keyring: Keyring,
    guix_secret: GuixSecretKey,
    nix_secret: NixSecretKey,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut acl = Acl::new();
        for k in [GUIX_TEST_PUB, GUIX_BERLIN_PUB, GUIX_BORDEAUX_PUB] {
            acl.add(GuixPublicKey::parse(k).expect("test key parses"));
        }
        let mut nix = Vec::new();
        let mut nix_secret = None;
        for line in NIX_KEYS.lines().map(str::trim) {
            if let Some(s) = line.strip_prefix("# secret: ") {
                nix_secret = Some(NixSecretKey::parse(s.trim()).expect("test secret parses"));
            } else if !line.is_empty() && !line.starts_with('#') {
                nix.push(NixPublicKey::parse(line).expect("test key parses"));
            }
        }
        let nix_secret = nix_secret.expect("tests/data/nix/keys.txt has a secret key");
        nix.push(nix_secret.public_key());
        Keys {
            keyring: Keyring { guix: acl, nix },
            guix_secret: GuixSecretKey::parse(GUIX_TEST_SEC).expect("test secret parses"),
            nix_secret,
        }
    })
}

/// The narinfo parser in both dialects (store directory inferred, and
/// forced to `/gnu/store` and `/nix/store`), the multi-record splitter, the
/// writer, and both signature checks over whatever parses.
pub fn narinfo(data: &[u8]) {
    let Ok(n) = Narinfo::parse_bytes(data) else {
        return;
    };
    let text = std::str::from_utf8(data).expect("a parsed narinfo is UTF-8");
    // The text is kept byte for byte, and split at the first `Signature:`.
    assert_eq!(n.text(), text);
    assert_eq!(format!("{}{}", n.signed_prefix(), n.unsigned_tail()), text);
    assert_eq!(n.hash_part().len(), 32);
    assert!(nix32::is_hash_part(n.hash_part()));
    assert_eq!(
        n.store_path(),
        format!("{}/{}", n.store_dir(), n.base_name())
    );
    for dir in ["/gnu/store", "/nix/store"] {
        if let Ok(m) = Narinfo::parse_in(text, dir) {
            assert_eq!(m.store_dir(), dir);
            assert_eq!(m.fields(), n.fields());
        }
    }
    // One record alone parses the same through the splitter, unless blank
    // lines inside make it several.
    let many = parse_many(text);
    if many.len() == 1 {
        if let (_, Ok(m)) = &many[0] {
            assert_eq!(m.fields(), n.fields());
        }
    }
    // What the writer makes of the fields reads back as the same fields.
    let fields = n.fields();
    for layout in [Layout::Guix, Layout::Nix] {
        if let Ok(built) = Narinfo::build(&fields, layout) {
            let again = Narinfo::parse(built.text()).expect("a built narinfo parses");
            assert_eq!(again.fields(), fields, "{layout:?} layout");
        }
    }
    let _ = n.nar_hash_bytes();
    let _ = n.nar_hash_nix32();
    let k = keys();
    let _ = crate::signing::verify_narinfo(&n, &k.keyring);
    let _ = nixsig::fingerprint_of(&n, false);
}

/// The s-expression parser: whatever parses prints in libgcrypt's advanced
/// layout, and that reads back as the same expression.
pub fn sexp(data: &[u8]) {
    let Ok(s) = sexp::parse(data) else {
        return;
    };
    let printed = s.to_advanced();
    let again = sexp::parse(&printed).expect("printed s-expression parses");
    assert_eq!(again, s);
    assert_eq!(again.to_advanced(), printed);
    // The key and signature readers on top of it.
    let _ = GuixPublicKey::from_sexp(&s);
    let _ = GuixSecretKey::from_sexp(&s);
    let _ = GuixSignature::from_sexp(&s);
    let _ = Acl::parse(data);
}

/// nix-base32: decoding accepts one spelling per byte string, and encoding
/// round-trips.
pub fn nix32(data: &[u8]) {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(bytes) = nix32::decode(s) {
            assert_eq!(nix32::encode(&bytes), s, "one spelling per value");
        }
        let _ = nix32::decode_array::<20>(s);
        let _ = nix32::decode_array::<32>(s);
        let _ = crate::changes::item_key(s);
    }
    let enc = nix32::encode(data);
    assert_eq!(nix32::decode(&enc).expect("own encoding decodes"), data);
    if let Some(key) = <[u8; 20]>::try_from(data)
        .ok()
        .map(|b| crate::changes::item_hash(&b))
    {
        assert_eq!(key.len(), 32);
    }
}

/// Guix signatures: a `Signature:` value over some bytes (arbitrary text,
/// and a well-formed signature with the right hash but fuzzed `r` and `s`,
/// which must never verify), and a real signature of fuzzed bytes, which
/// must.
pub fn guix_signature(data: &[u8]) {
    let k = keys();
    // [signed bytes] 0xff [signature field]
    let (signed, field) = match data.iter().position(|&b| b == 0xff) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    if let Ok(field) = std::str::from_utf8(field) {
        let _ = guix::verify(signed, field, &k.keyring.guix);
        let _ = guix::parse_signature_field(field);
    }
    // Forged numbers over the right hash: the ECDSA check itself.
    if data.len() >= 64 {
        let mut r = [0u8; 32];
        let mut s = [0u8; 32];
        r.copy_from_slice(&data[..32]);
        s.copy_from_slice(&data[32..64]);
        let msg = &data[64..];
        let hash: [u8; 32] = Sha256::digest(msg).into();
        let forged = GuixSignature::new(hash, r, s, k.guix_secret.public_key().clone());
        let real = guix::sign(&k.guix_secret, msg);
        let verdict = guix::verify_signature(msg, &forged, &k.keyring.guix);
        if (r, s) != (*real.r(), *real.s()) {
            assert_ne!(verdict, Verdict::Valid, "forged r, s verified");
        }
        // Through base64 and the field, as a narinfo carries it.
        let field = guix::signature_field("fuzz", &forged).expect("field");
        assert_eq!(guix::verify(msg, &field, &k.keyring.guix), verdict);
    }
    let real = guix::sign(&k.guix_secret, data);
    assert_eq!(
        guix::verify_signature(data, &real, &k.keyring.guix),
        Verdict::Valid
    );
}

/// Nix signatures: `Sig:` values over fingerprints, parsed keys, and a real
/// signature of fuzzed bytes that must verify (and stop verifying when one
/// byte changes).
pub fn nix_signature(data: &[u8]) {
    let k = keys();
    let text = String::from_utf8_lossy(data);
    let (fp, sig) = text.split_once('\n').unwrap_or((&text, ""));
    let _ = nixsig::verify_sig(fp, sig, &k.keyring.nix);
    let _ = nixsig::verify_sigs(&[fp, sig], &[sig, fp], &k.keyring.nix);
    let _ = NixPublicKey::parse(fp);
    let _ = NixSecretKey::parse(fp);
    let _ = nixsig::parse_public_keys(&text);
    let good = k.nix_secret.sign(fp);
    assert_eq!(
        nixsig::verify_sig(fp, &good, &k.keyring.nix),
        Verdict::Valid
    );
    if !sig.is_empty() && sig != good {
        let mut tampered = fp.to_string();
        tampered.push('x');
        assert_ne!(
            nixsig::verify_sig(&tampered, &good, &k.keyring.nix),
            Verdict::Valid
        );
    }
}

/// Request routing through the real server: the first byte picks a method
/// (and whether the request carries the write token), the rest is the
/// request target, sent raw on an in-memory connection to a server over a
/// small store. Every answer must be a well-formed HTTP response with a
/// status below 500, and a request sent after it on the same connection is
/// still answered unless the server rightly closed it after a 400.
pub fn route(data: &[u8]) {
    let Some((&m, target)) = data.split_first() else {
        return;
    };
    let method = ["GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS"][usize::from(m % 6)];
    let auth = if m & 0x80 != 0 {
        "Authorization: Bearer fuzz-token\r\n"
    } else {
        ""
    };
    let mut raw = Vec::with_capacity(target.len() + 128);
    raw.extend_from_slice(method.as_bytes());
    raw.push(b' ');
    raw.extend_from_slice(target);
    raw.extend_from_slice(b" HTTP/1.1\r\nHost: fuzz\r\n");
    raw.extend_from_slice(auth.as_bytes());
    raw.extend_from_slice(b"Content-Length: 0\r\n\r\n");
    raw.extend_from_slice(b"GET /nix-cache-info HTTP/1.1\r\nHost: fuzz\r\n\r\n");
    let h = harness();
    let head = method == "HEAD";
    let answers = h.runtime.block_on(h.exchange(raw, head));
    assert!(!answers.is_empty(), "no answer at all");
    for (status, _) in &answers {
        assert!(*status < 500, "server error {status}: {answers:?}");
    }
    let closed_after_error = answers.iter().any(|(s, _)| [400, 414, 431].contains(s));
    assert!(
        closed_after_error || (answers.len() >= 2 && answers.last().is_some_and(|a| a.1)),
        "the follow-up request was not answered: {answers:?}"
    );
}

/// The complete responses at the start of `buf`: status, and whether the
/// body is `/nix-cache-info`'s. Panics on a malformed response head.
fn parse_responses(buf: &[u8], first_is_head: bool) -> Vec<(u16, bool)> {
    let mut rest = buf;
    let mut answers = Vec::new();
    while let Some(end) = rest.windows(4).position(|w| w == b"\r\n\r\n") {
        let head = std::str::from_utf8(&rest[..end]).expect("response head is UTF-8");
        let mut lines = head.split("\r\n");
        let status: u16 = lines
            .next()
            .and_then(|l| l.strip_prefix("HTTP/1.1 "))
            .and_then(|l| l.get(..3))
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("bad status line in {head:?}"));
        let len: usize = lines
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no Content-Length in {head:?}"));
        let len = if answers.is_empty() && first_is_head {
            0
        } else {
            len
        };
        let Some(body) = rest.get(end + 4..end + 4 + len) else {
            break;
        };
        answers.push((status, body.starts_with(b"StoreDir: ")));
        rest = &rest[end + 4 + len..];
    }
    answers
}

/// Importing one file (`narherder import FILE`): whatever it holds, the
/// import finishes; every narinfo the file holds once, that parses and
/// belongs to the store's directory, is then stored with its exact text.
pub fn import(data: &[u8]) {
    let h = harness();
    h.runtime.block_on(h.import_one(data));
}

/// A server and a store for [`route`] and [`import`], made once per process.
struct Harness {
    runtime: tokio::runtime::Runtime,
    state: std::sync::Arc<crate::server::State>,
    store: crate::store::Store,
    dir: std::path::PathBuf,
    _stop: tokio::sync::watch::Sender<bool>,
    stop_rx: tokio::sync::watch::Receiver<bool>,
}

fn harness() -> &'static Harness {
    static H: OnceLock<Harness> = OnceLock::new();
    H.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        let tmp = std::env::temp_dir();
        remove_stale_dirs(&tmp);
        let dir = tmp.join(format!("narherder-fuzz-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("nars/nar")).expect("fuzz directory");
        let (state, store) = runtime.block_on(async {
            let url = format!("sqlite://{}", dir.join("fuzz.db").display());
            let options = crate::store::StoreOptions {
                store_dir: Some("/gnu/store".into()),
                ..Default::default()
            };
            let store = crate::store::Store::open(&url, &options)
                .await
                .expect("fuzz store");
            // A few real narinfos and one nar file, so lookups can hit.
            for text in [
                include_str!(
                    "../tests/data/guix/cs56i9digj9qg1bd383cmxc6xrfpdn9n.hello-2.12.2.bordeaux.narinfo"
                ),
                include_str!("../tests/data/guix/0123456789abcdfghijklmnpqrsvwxyz.example-1.0.synthetic.narinfo"),
            ] {
                let n = Narinfo::parse(text).expect("test narinfo parses");
                store
                    .add(&n, crate::store::AddMode::Replace)
                    .await
                    .expect("test narinfo stored");
                for f in n.files() {
                    if let Some(rel) = f.url.strip_prefix("nar/") {
                        let p = dir.join("nars/nar").join(rel);
                        if let Some(parent) = p.parent() {
                            let _ = std::fs::create_dir_all(parent);
                        }
                        let _ = std::fs::write(p, b"fuzz nar contents");
                    }
                }
            }
            let config = crate::server::ServerConfig {
                storage: Some(dir.join("nars")),
                tokens: crate::server::auth::Tokens::new(&["fuzz-token".to_string()]),
                read_timeout: std::time::Duration::from_secs(5),
                ..Default::default()
            };
            let (state, _feed) = crate::server::State::build(store.clone(), config)
                .await
                .expect("fuzz server state");
            (state, store)
        });
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        Harness {
            runtime,
            state,
            store,
            dir,
            _stop: stop,
            stop_rx,
        }
    })
}

/// Removes the directories of earlier harnesses whose process is gone
/// (the harness lives as long as its process and cannot clean up itself).
fn remove_stale_dirs(tmp: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("narherder-fuzz-"))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

impl Harness {
    /// Sends `raw` on a fresh in-memory connection and reads answers until
    /// one is `/nix-cache-info`'s or the server closes the connection.
    /// (The writing side stays open: the server, like hyper's default,
    /// takes a half-closed connection for a gone client.)
    async fn exchange(&self, raw: Vec<u8>, first_is_head: bool) -> Vec<(u16, bool)> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let conn = tokio::spawn(crate::server::serve_connection(
            self.state.clone(),
            hyper_util::rt::TokioIo::new(server),
            self.stop_rx.clone(),
        ));
        let talk = async move {
            let _ = client.write_all(&raw).await;
            let mut out = Vec::new();
            let mut buf = [0u8; 8192];
            loop {
                let n = client.read(&mut buf).await.unwrap_or(0);
                if n == 0 {
                    return parse_responses(&out, first_is_head);
                }
                out.extend_from_slice(&buf[..n]);
                let answers = parse_responses(&out, first_is_head);
                if answers.len() >= 2 && answers.last().is_some_and(|a| a.1) {
                    return answers;
                }
            }
        };
        let answers = tokio::time::timeout(std::time::Duration::from_secs(20), talk)
            .await
            .expect("the server answers within 20 s");
        conn.abort();
        let _ = conn.await;
        answers
    }

    async fn import_one(&self, data: &[u8]) {
        use crate::import::{import, ImportOptions, ImportSource, NoProgress};
        let file = self.dir.join("import.narinfo");
        std::fs::write(&file, data).expect("writing the import file");
        let opts = ImportOptions {
            parsers: 1,
            bulk_load: crate::import::BulkLoad::Never,
            ..Default::default()
        };
        let report = import(
            &self.store,
            &[ImportSource::Path(file)],
            &opts,
            std::sync::Arc::new(NoProgress),
        )
        .await
        .expect("an import fails only when the database does");
        // What the file holds, as the importer sees it.
        let text = std::str::from_utf8(data).ok();
        let records: Vec<Narinfo> = text
            .map(parse_many)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(_, r)| r.ok())
            .filter(|n| n.store_dir() == "/gnu/store")
            .collect();
        assert!(report.new + report.unchanged + report.replaced <= records.len() as u64);
        const SEEDS: [&str; 2] = [
            "cs56i9digj9qg1bd383cmxc6xrfpdn9n",
            "0123456789abcdfghijklmnpqrsvwxyz",
        ];
        let mut hashes: Vec<&str> = records.iter().map(|n| n.hash_part()).collect();
        for n in &records {
            let once = hashes.iter().filter(|&&h| h == n.hash_part()).count() == 1;
            if once && !SEEDS.contains(&n.hash_part()) {
                let stored = self.store.get_text(n.hash_part()).await.expect("get_text");
                assert_eq!(
                    stored.as_deref(),
                    Some(n.text()),
                    "imported narinfo not stored as written ({report:?})"
                );
            }
        }
        // Back to the two seed narinfos for the next input.
        hashes.retain(|h| !SEEDS.contains(h));
        self.store
            .remove_many(&hashes)
            .await
            .expect("removing imported narinfos");
    }
}
