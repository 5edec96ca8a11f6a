//! Nix signatures: Ed25519 over a narinfo's *fingerprint*.
//!
//! A Nix binary cache signs the text
//! `1;<StorePath>;sha256:<NarHash in nix32>;<NarSize>;<comma-joined full reference paths>`
//! (see [`fingerprint`]) with plain Ed25519 and writes the result as
//! `Sig: <keyname>:<base64 of 64 bytes>`. URL, Compression, FileHash,
//! FileSize, Deriver and CA are not signed.
//!
//! Keys are written `name:base64(...)`: 32 bytes for a public key
//! ([`NixPublicKey`]), the 32-byte seed followed by the 32-byte public key
//! for a secret key ([`NixSecretKey`]).
//!
//! ```
//! use narherder::signing::nix::{fingerprint, verify_sig, NixSecretKey};
//! use narherder::signing::Verdict;
//!
//! let key = NixSecretKey::generate("cache.example.org-1")?;
//! let fp = fingerprint(
//!     "/nix/store/0a3yijp35sygmy51cnrrz11vimwapz7c-dbus-conf",
//!     "sha256:1bb3srw3x77mnck1gk0cbnf1a9915fdrqdjb27y7rxmmlrb3dzjw",
//!     11408,
//!     &["/nix/store/arsnax0avamwiml7qrwn9wzbic33pyk9-polkit-0.113".to_string()],
//! );
//! let sig = key.sign(&fp); // the value of a `Sig:` line
//! assert!(sig.starts_with("cache.example.org-1:"));
//! assert_eq!(verify_sig(&fp, &sig, &[key.public_key()]), Verdict::Valid);
//! # Ok::<(), narherder::Error>(())
//! ```
//!
//! # Which Ed25519 verification
//!
//! Signatures are checked with ed25519-dalek's `verify_strict`, which
//! rejects small-order public keys and small-order `R` points and requires a
//! canonical `S`. libsodium's `crypto_sign_verify_detached`, which Nix uses,
//! rejects the same cases, whereas plain `verify` would accept some
//! signatures that Nix refuses. Every cache.nixos.org signature in the test
//! data passes `verify_strict` (`tests/nix_signatures.rs` checks all 205).

use std::fmt;
use std::fs;
use std::path::Path;
use std::str::FromStr;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey, PUBLIC_KEY_LENGTH};
use zeroize::Zeroizing;

use super::Verdict;
use crate::narinfo::Narinfo;
use crate::{Error, Result};

/// Length in bytes of an Ed25519 signature.
pub const SIGNATURE_LENGTH: usize = ed25519_dalek::SIGNATURE_LENGTH;

/// Length in bytes of a Nix secret key's payload: seed then public key.
const SECRET_PAYLOAD_LENGTH: usize = 64;

/// Checks a key name: non-empty, no `:` (the separator), no whitespace or
/// control characters (they would not survive a `Sig:` line or a key file).
fn check_key_name(name: &str, what: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::Key(format!(
            "{what}: empty key name before ':' (expected NAME:BASE64)"
        )));
    }
    if let Some(c) = name
        .chars()
        .find(|c| *c == ':' || c.is_whitespace() || c.is_control())
    {
        return Err(Error::Key(format!(
            "{what}: key name {name:?} contains {c:?}; names may not contain ':', \
             whitespace or control characters"
        )));
    }
    Ok(())
}

/// Splits `NAME:BASE64` at the first `:` and checks the name.
fn split_key<'a>(s: &'a str, what: &str) -> Result<(&'a str, &'a str)> {
    let Some((name, data)) = s.split_once(':') else {
        return Err(Error::Key(format!(
            "{what}: missing ':' (expected NAME:BASE64)"
        )));
    };
    check_key_name(name, what)?;
    Ok((name, data))
}

/// A Nix public key: a name and an Ed25519 verifying key, written
/// `name:base64(32 bytes)`.
#[derive(Clone, PartialEq, Eq)]
pub struct NixPublicKey {
    name: String,
    key: VerifyingKey,
}

impl NixPublicKey {
    /// A public key named `name` (non-empty, without `:` or whitespace).
    pub fn new(name: &str, key: VerifyingKey) -> Result<NixPublicKey> {
        check_key_name(name, "public key")?;
        Ok(NixPublicKey {
            name: name.to_string(),
            key,
        })
    }

    /// Parses `name:base64(32 bytes)`, exactly (no surrounding whitespace).
    pub fn parse(s: &str) -> Result<NixPublicKey> {
        let (name, data) = split_key(s, "public key")?;
        let bytes = BASE64
            .decode(data)
            .map_err(|e| Error::Key(format!("public key {name}: bad base64 after ':' ({e})")))?;
        let array: [u8; PUBLIC_KEY_LENGTH] = bytes.as_slice().try_into().map_err(|_| {
            Error::Key(format!(
                "public key {name}: {} bytes after base64 decoding, expected {PUBLIC_KEY_LENGTH}",
                bytes.len()
            ))
        })?;
        let key = VerifyingKey::from_bytes(&array).map_err(|_| {
            Error::Key(format!(
                "public key {name}: the 32 bytes are not a valid Ed25519 point"
            ))
        })?;
        Ok(NixPublicKey {
            name: name.to_string(),
            key,
        })
    }

    /// Reads a public key file: one `name:base64` key, surrounding
    /// whitespace (a trailing newline) ignored.
    pub fn load(path: impl AsRef<Path>) -> Result<NixPublicKey> {
        let path = path.as_ref();
        let text = fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        NixPublicKey::parse(text.trim())
            .map_err(|e| Error::Key(format!("{}: {}", path.display(), key_message(e))))
    }

    /// The key's name, e.g. `cache.nixos.org-1`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The Ed25519 verifying key.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.key
    }

    /// The raw 32-byte public key.
    pub fn to_bytes(&self) -> [u8; PUBLIC_KEY_LENGTH] {
        self.key.to_bytes()
    }

    /// Whether `signature` is this key's Ed25519 signature of `message`
    /// (strict verification, see the module documentation).
    pub fn verify(&self, message: &[u8], signature: &Signature) -> bool {
        self.key.verify_strict(message, signature).is_ok()
    }
}

impl fmt::Display for NixPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.name, BASE64.encode(self.key.as_bytes()))
    }
}

impl fmt::Debug for NixPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NixPublicKey({self})")
    }
}

impl FromStr for NixPublicKey {
    type Err = Error;

    fn from_str(s: &str) -> Result<NixPublicKey> {
        NixPublicKey::parse(s)
    }
}

/// The message of a [`Error::Key`] without its `key: ` prefix, so that
/// wrapping it does not repeat the prefix.
fn key_message(e: Error) -> String {
    match e {
        Error::Key(m) => m,
        other => other.to_string(),
    }
}

/// Parses several public keys, one per line; blank lines and lines whose
/// first non-blank character is `#` are ignored. Errors name the line.
pub fn parse_public_keys(text: &str) -> Result<Vec<NixPublicKey>> {
    let mut keys = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let key = NixPublicKey::parse(line)
            .map_err(|e| Error::Key(format!("line {}: {}", i + 1, key_message(e))))?;
        keys.push(key);
    }
    Ok(keys)
}

/// Reads a file of public keys as [`parse_public_keys`] does (e.g.
/// `tests/data/nix/keys.txt`). Errors name the file and line.
pub fn load_public_keys(path: impl AsRef<Path>) -> Result<Vec<NixPublicKey>> {
    let path = path.as_ref();
    let text = fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    parse_public_keys(&text)
        .map_err(|e| Error::Key(format!("{}: {}", path.display(), key_message(e))))
}

/// A Nix secret key: a name and an Ed25519 signing key, written
/// `name:base64(seed32 ‖ public32)`.
///
/// The key material is wiped from memory when the value is dropped
/// (ed25519-dalek's `SigningKey` zeroizes itself), and `Debug` prints only
/// the name and the public key.
#[derive(Clone)]
pub struct NixSecretKey {
    name: String,
    key: SigningKey,
}

impl NixSecretKey {
    /// A secret key named `name` from a 32-byte Ed25519 seed.
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<NixSecretKey> {
        check_key_name(name, "secret key")?;
        Ok(NixSecretKey {
            name: name.to_string(),
            key: SigningKey::from_bytes(seed),
        })
    }

    /// A fresh random key named `name`, from the operating system's
    /// random number generator.
    pub fn generate(name: &str) -> Result<NixSecretKey> {
        check_key_name(name, "secret key")?;
        Ok(NixSecretKey {
            name: name.to_string(),
            key: SigningKey::generate(&mut rand_core::OsRng),
        })
    }

    /// Parses `name:base64(seed32 ‖ public32)`, exactly (no surrounding
    /// whitespace). The public half must be the one the seed gives.
    pub fn parse(s: &str) -> Result<NixSecretKey> {
        let (name, data) = split_key(s, "secret key")?;
        let bytes =
            Zeroizing::new(BASE64.decode(data).map_err(|e| {
                Error::Key(format!("secret key {name}: bad base64 after ':' ({e})"))
            })?);
        if bytes.len() != SECRET_PAYLOAD_LENGTH {
            return Err(Error::Key(format!(
                "secret key {name}: {} bytes after base64 decoding, expected \
                 {SECRET_PAYLOAD_LENGTH} (32-byte seed then 32-byte public key)",
                bytes.len()
            )));
        }
        let (seed_part, public_part) = bytes.split_at(32);
        let mut seed = Zeroizing::new([0u8; 32]);
        seed.copy_from_slice(seed_part);
        let key = SigningKey::from_bytes(&seed);
        if key.verifying_key().as_bytes().as_slice() != public_part {
            return Err(Error::Key(format!(
                "secret key {name}: the public half (last 32 bytes) does not match the seed"
            )));
        }
        Ok(NixSecretKey {
            name: name.to_string(),
            key,
        })
    }

    /// Reads a secret key file: one `name:base64` key, surrounding
    /// whitespace (a trailing newline) ignored.
    pub fn load(path: impl AsRef<Path>) -> Result<NixSecretKey> {
        let path = path.as_ref();
        let text = Zeroizing::new(fs::read_to_string(path).map_err(|e| Error::io(path, e))?);
        NixSecretKey::parse(text.trim())
            .map_err(|e| Error::Key(format!("{}: {}", path.display(), key_message(e))))
    }

    /// The key's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The matching public key.
    pub fn public_key(&self) -> NixPublicKey {
        NixPublicKey {
            name: self.name.clone(),
            key: self.key.verifying_key(),
        }
    }

    /// The text of a secret key file, `name:base64(seed ‖ public)`, in a
    /// buffer wiped on drop. Nix writes it without a trailing newline.
    pub fn to_file_string(&self) -> Zeroizing<String> {
        let bytes = Zeroizing::new(self.key.to_keypair_bytes());
        let mut s = Zeroizing::new(String::with_capacity(self.name.len() + 90));
        s.push_str(&self.name);
        s.push(':');
        BASE64.encode_string(bytes.as_slice(), &mut s);
        s
    }

    /// The raw Ed25519 signature of `message`.
    pub fn sign_bytes(&self, message: &[u8]) -> Signature {
        self.key.sign(message)
    }

    /// The `Sig:` value for `fingerprint`: `name:base64(64-byte signature)`.
    pub fn sign(&self, fingerprint: &str) -> String {
        let sig = self.sign_bytes(fingerprint.as_bytes());
        format!("{}:{}", self.name, BASE64.encode(sig.to_bytes()))
    }
}

/// Prints the secret key file text. Take care where it goes: this is the
/// key material. (`Debug` does not print it.)
impl fmt::Display for NixSecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_file_string())
    }
}

impl fmt::Debug for NixSecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NixSecretKey")
            .field("name", &self.name)
            .field(
                "public",
                &BASE64.encode(self.key.verifying_key().as_bytes()),
            )
            .finish_non_exhaustive()
    }
}

impl FromStr for NixSecretKey {
    type Err = Error;

    fn from_str(s: &str) -> Result<NixSecretKey> {
        NixSecretKey::parse(s)
    }
}

/// Generates a key pair named `name` and writes `PREFIX.sec` (created with
/// mode 0600, never readable by others, even briefly) and `PREFIX.pub`
/// (mode 0644). Neither file may exist already: an existing key is never
/// overwritten. Returns the secret key.
pub fn write_key_pair(prefix: &Path, name: &str) -> Result<NixSecretKey> {
    let key = NixSecretKey::generate(name)?;
    super::keyfile::write_pair(
        prefix,
        key.public_key().to_string().as_bytes(),
        key.to_file_string().as_bytes(),
    )?;
    Ok(key)
}

/// The text a Nix signature signs:
/// `1;<store_path>;<nar_hash_nix32>;<nar_size>;<references joined by ','>`.
///
/// `nar_hash_nix32` is `sha256:<52 nix32 characters>`, `references` are full
/// store paths in the order the caller wants (Nix sorts them; very old
/// signatures used file order).
pub fn fingerprint(
    store_path: &str,
    nar_hash_nix32: &str,
    nar_size: u64,
    references: &[String],
) -> String {
    let refs_len: usize = references.iter().map(|r| r.len() + 1).sum();
    let mut fp = String::with_capacity(store_path.len() + nar_hash_nix32.len() + refs_len + 26);
    fp.push_str("1;");
    fp.push_str(store_path);
    fp.push(';');
    fp.push_str(nar_hash_nix32);
    fp.push(';');
    fp.push_str(&nar_size.to_string());
    fp.push(';');
    for (i, r) in references.iter().enumerate() {
        if i > 0 {
            fp.push(',');
        }
        fp.push_str(r);
    }
    fp
}

/// The `Sig:` value `name:base64(signature)` of `fp` by `key`.
pub fn sign_fingerprint(key: &NixSecretKey, fp: &str) -> String {
    key.sign(fp)
}

/// What one `Sig:` value says before any key is tried.
enum ParsedSig<'a> {
    /// No `:` at all: nothing can be made of it.
    NoName,
    /// A name and what follows the `:`.
    Named(&'a str, &'a str),
}

fn parse_sig(sig: &str) -> ParsedSig<'_> {
    match sig.split_once(':') {
        Some((name, data)) => ParsedSig::Named(name, data),
        None => ParsedSig::NoName,
    }
}

/// Decodes the base64 part of a `Sig:` value into a signature.
fn decode_signature(data: &str) -> Option<Signature> {
    let bytes = BASE64.decode(data).ok()?;
    let array: [u8; SIGNATURE_LENGTH] = bytes.as_slice().try_into().ok()?;
    Some(Signature::from_bytes(&array))
}

/// Checks one `Sig:` value against each of `fingerprints` (tried in order)
/// with the keys of the right name.
fn check_sig(sig: &str, fingerprints: &[&str], keys: &[NixPublicKey]) -> Verdict {
    let (name, data) = match parse_sig(sig) {
        ParsedSig::NoName => return Verdict::CorruptSignature,
        ParsedSig::Named(name, data) => (name, data),
    };
    let mut candidates = keys.iter().filter(|k| k.name == name).peekable();
    if candidates.peek().is_none() {
        return Verdict::UnauthorizedKey;
    }
    let Some(signature) = decode_signature(data) else {
        return Verdict::CorruptSignature;
    };
    for key in candidates {
        if fingerprints
            .iter()
            .any(|fp| key.verify(fp.as_bytes(), &signature))
        {
            return Verdict::Valid;
        }
    }
    Verdict::InvalidSignature
}

/// How telling a failed verdict is, when several `Sig:` values fail: an
/// invalid signature (a well-formed signature by a trusted key that does not
/// verify) over a corrupt one over an unknown key; unsigned when there are
/// none.
fn rank(v: Verdict) -> u8 {
    match v {
        Verdict::Valid => 5,
        Verdict::InvalidSignature => 4,
        Verdict::HashMismatch => 3,
        Verdict::CorruptSignature => 2,
        Verdict::UnauthorizedKey => 1,
        Verdict::Unsigned => 0,
    }
}

/// Checks one `Sig:` value (`name:base64`) over the fingerprint `fp`.
///
/// [`Verdict::CorruptSignature`] when the value has no `:`, or its key is
/// known but the rest is not base64 of 64 bytes; [`Verdict::UnauthorizedKey`]
/// when no key of `keys` has that name; [`Verdict::Valid`] when one of the
/// keys of that name verifies it; [`Verdict::InvalidSignature`] otherwise.
pub fn verify_sig(fp: &str, sig: &str, keys: &[NixPublicKey]) -> Verdict {
    check_sig(sig, &[fp], keys)
}

/// Checks several `Sig:` values over the fingerprints `fps` (a signature is
/// good if it verifies over any of them), combining the verdicts as
/// [`verify_narinfo`] does. No signatures gives [`Verdict::Unsigned`].
pub fn verify_sigs<S: AsRef<str>>(fps: &[&str], sigs: &[S], keys: &[NixPublicKey]) -> Verdict {
    let mut best = Verdict::Unsigned;
    for sig in sigs {
        let verdict = check_sig(sig.as_ref(), fps, keys);
        if verdict == Verdict::Valid {
            // One good signature is enough: skip the other Ed25519 checks.
            return Verdict::Valid;
        }
        if rank(verdict) > rank(best) {
            best = verdict;
        }
    }
    best
}

/// The fingerprint of `narinfo` (see [`fingerprint`]): its references made
/// full paths with the narinfo's store directory, sorted (what Nix signs)
/// when `sorted`, else in file order (what some very old signatures cover).
/// `NarHash` appears as `sha256:<nix32>` even when the file has hex.
pub fn fingerprint_of(narinfo: &Narinfo, sorted: bool) -> String {
    let store_dir = narinfo.store_dir();
    let mut refs: Vec<String> = narinfo
        .references()
        .iter()
        .map(|r| format!("{store_dir}/{r}"))
        .collect();
    if sorted {
        refs.sort_unstable();
    }
    fingerprint(
        narinfo.store_path(),
        &narinfo.nar_hash_nix32(),
        narinfo.nar_size(),
        &refs,
    )
}

/// The `Sig:` value `name:base64` of `narinfo` by `key`, over the fingerprint
/// with sorted references (what Nix checks).
pub fn sign_narinfo_sig(narinfo: &Narinfo, key: &NixSecretKey) -> String {
    key.sign(&fingerprint_of(narinfo, true))
}

/// Checks the `Sig:` lines of `narinfo` against `keys`.
///
/// * No `Sig:` line: [`Verdict::Unsigned`].
/// * [`Verdict::Valid`] if any signature by a key of `keys` (matched by
///   name) verifies over the fingerprint with sorted references, or, for
///   very old data, with the references in file order.
/// * Otherwise, the most telling failure: [`Verdict::InvalidSignature`] (a
///   known key's signature that does not verify: the signed fields were
///   changed), then [`Verdict::CorruptSignature`] (not `name:base64` of 64
///   bytes), then [`Verdict::UnauthorizedKey`] (no line names a known key).
pub fn verify_narinfo(narinfo: &Narinfo, keys: &[NixPublicKey]) -> Verdict {
    let sigs = narinfo.sigs();
    if sigs.is_empty() {
        return Verdict::Unsigned;
    }
    let sorted = fingerprint_of(narinfo, true);
    // File order differs from sorted order only when the references are
    // out of order; skip the second Ed25519 check otherwise.
    let in_order = narinfo.references().windows(2).all(|w| w[0] <= w[1]);
    if in_order {
        verify_sigs(&[&sorted], sigs, keys)
    } else {
        let file_order = fingerprint_of(narinfo, false);
        verify_sigs(&[&sorted, &file_order], sigs, keys)
    }
}
