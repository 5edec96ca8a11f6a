//! Narinfo parsing and writing: real files, error messages, properties.

use narherder::narinfo::{
    parse_many, Layout, NarFile, NarinfoFields, MAX_LINES, MAX_NARINFO_BYTES,
};
use narherder::{nix32, Narinfo};
use proptest::prelude::*;
use std::path::Path;

fn data(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn files_with_ext(dir: &str, ext: &str) -> Vec<(String, String)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(dir);
    let mut out: Vec<(String, String)> = std::fs::read_dir(&path)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .map(|p| {
            (
                p.display().to_string(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

const BORDEAUX: &str = "guix/cs56i9digj9qg1bd383cmxc6xrfpdn9n.hello-2.12.2.bordeaux.narinfo";
const SED_2017: &str = "guix/8kib1cirdv0qbmn9hdkjzjfx3n5nw1yw.sed-4.4.berlin.narinfo";
const SYNTHETIC: &str = "guix/0123456789abcdfghijklmnpqrsvwxyz.example-1.0.synthetic.narinfo";
const CI_2020: &str = "guix/803q5wapfnmr91ag8d9dzwabkbdxz3ay.hello-2.10-i586-gnu.ci.narinfo";
const HEX: &str = "nix/0vpqfxbkx0ffrnhbws6g9qwhmliksz7f.perl-HTTP-Cookies-hex-narhash.narinfo";
const CA_EMPTY: &str =
    "nix/k20pahypzvr49fy82cw5sx72hdfg3qcr.texlive-hyphenex-ca-empty-refs.narinfo";
const TWO_SIGS: &str = "nix/syd87l2rxw8cbsxmxl853h0r6pdwhwjr.curl-two-sigs.narinfo";
const SELF_REF: &str = "nix/0a3yijp35sygmy51cnrrz11vimwapz7c.dbus-conf-self-ref.narinfo";

/// Checks what holds for every well-formed narinfo.
fn check_invariants(n: &Narinfo, text: &str, store_dir: &str) {
    assert_eq!(n.text(), text);
    assert_eq!(n.text().as_bytes(), text.as_bytes());
    assert_eq!(n.store_dir(), store_dir);
    assert_eq!(format!("{}{}", n.signed_prefix(), n.unsigned_tail()), text);
    assert_eq!(n.store_path(), format!("{store_dir}/{}", n.base_name()));
    assert!(nix32::is_hash_part(n.hash_part()));
    assert_eq!(format!("{}-{}", n.hash_part(), n.name()), n.base_name());
    for h in n.reference_hashes() {
        assert!(nix32::is_hash_part(h));
    }
    match n.signature() {
        Some(sig) => assert!(n
            .unsigned_tail()
            .starts_with(&format!("Signature: {sig}\n"))),
        None => assert_eq!(n.unsigned_tail(), ""),
    }
    // Parsing the text again gives the same narinfo.
    assert_eq!(&Narinfo::parse(n.text()).unwrap(), n);
    assert_eq!(&Narinfo::parse_in(n.text(), store_dir).unwrap(), n);
    assert_eq!(&Narinfo::parse_bytes(n.text().as_bytes()).unwrap(), n);
    // The nix32 form of NarHash decodes to the same digest.
    let nix = n.nar_hash_nix32();
    assert_eq!(nix.len(), 7 + 52);
    assert_eq!(nix32::decode(&nix[7..]).unwrap(), n.nar_hash_bytes());
}

#[test]
fn every_guix_file_parses_byte_exact() {
    let files = files_with_ext("guix", "narinfo");
    assert_eq!(files.len(), 5);
    for (path, text) in files {
        let n = Narinfo::parse(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
        check_invariants(&n, &text, "/gnu/store");
        assert!(n.signature().is_some(), "{path}");
        assert!(n.essentials_signed(), "{path}");
        assert!(n.sigs().is_empty());
        let file_hash = path.rsplit('/').next().unwrap().split('.').next().unwrap();
        assert_eq!(n.hash_part(), file_hash, "{path}");
    }
}

#[test]
fn every_nix_edge_file_parses_byte_exact() {
    let files = files_with_ext("nix", "narinfo");
    assert_eq!(files.len(), 5);
    for (path, text) in files {
        let n = Narinfo::parse(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
        check_invariants(&n, &text, "/nix/store");
        assert!(n.signature().is_none());
        assert!(!n.sigs().is_empty(), "{path}");
        assert_eq!(n.files().len(), 1);
        let f = &n.files()[0];
        let want = if path.contains("gcc-3.4.6") {
            "bzip2"
        } else {
            "xz"
        };
        assert_eq!(f.compression.as_deref(), Some(want), "{path}");
        assert!(
            f.url.starts_with("nar/")
                && f.url
                    .ends_with(&format!(".nar.{want}").replace("bzip2", "bz2"))
        );
        assert!(f.file_hash.is_some() && f.file_size.is_some(), "{path}");
    }
}

#[test]
fn the_nixos_sample_parses_byte_exact() {
    let text = data("nix/cache.nixos.org-sample.narinfos");
    let records = parse_many(&text);
    assert_eq!(records.len(), 200);
    let mut rebuilt = String::new();
    let mut line = 1;
    for (i, (first_line, result)) in records.iter().enumerate() {
        let n = result
            .as_ref()
            .unwrap_or_else(|e| panic!("record at line {first_line}: {e}"));
        assert_eq!(*first_line, line, "record {i}");
        line += n.text().lines().count() + 1;
        check_invariants(n, n.text(), "/nix/store");
        assert!(n.text().starts_with("StorePath: /nix/store/"));
        assert_eq!(n.sigs().len(), 1);
        assert!(n.sigs()[0].starts_with("cache.nixos.org-1:"));
        if i > 0 {
            rebuilt.push('\n');
        }
        rebuilt.push_str(n.text());
    }
    assert_eq!(
        rebuilt, text,
        "records joined by blank lines give back the file"
    );
    assert_eq!(Narinfo::parse_many(&text).len(), 200);
}

#[test]
fn bordeaux_has_two_groups_in_the_unsigned_tail() {
    let text = data(BORDEAUX);
    let n = Narinfo::parse(&text).unwrap();
    assert_eq!(
        n.store_path(),
        "/gnu/store/cs56i9digj9qg1bd383cmxc6xrfpdn9n-hello-2.12.2"
    );
    assert_eq!(n.hash_part(), "cs56i9digj9qg1bd383cmxc6xrfpdn9n");
    assert_eq!(n.name(), "hello-2.12.2");
    assert_eq!(
        n.nar_hash(),
        "sha256:0qhasy0w9w9mfv0vacgzymxl4nww8cslyza5x2ci42v7i2b13lyl"
    );
    assert_eq!(n.nar_size(), 282616);
    assert_eq!(
        n.references(),
        [
            "cs56i9digj9qg1bd383cmxc6xrfpdn9n-hello-2.12.2",
            "m2vhzr0dy352cn59sgcklcaykprrr4j6-gcc-14.3.0-lib",
            "yj053cys0724p7vs9kir808x7fivz17m-glibc-2.41"
        ]
    );
    assert_eq!(n.system(), Some("x86_64-linux"));
    assert_eq!(
        n.deriver(),
        Some("rxw8g87bf61bwbagfq38sp5xwy28jb5d-hello-2.12.2.drv")
    );
    assert!(n.essentials_signed());
    assert!(n
        .signature()
        .unwrap()
        .starts_with("1;bayfront;KHNpZ25hdHVyZSAK"));
    assert_eq!(
        n.files(),
        [
            NarFile {
                url: "nar/lzip/cs56i9digj9qg1bd383cmxc6xrfpdn9n-hello-2.12.2".into(),
                compression: Some("lzip".into()),
                file_size: Some(68076),
                file_hash: None,
            },
            NarFile {
                url: "nar/zstd/cs56i9digj9qg1bd383cmxc6xrfpdn9n-hello-2.12.2".into(),
                compression: Some("zstd".into()),
                file_size: Some(73413),
                file_hash: None,
            },
        ]
    );
    assert!(n
        .signed_prefix()
        .ends_with("Deriver: rxw8g87bf61bwbagfq38sp5xwy28jb5d-hello-2.12.2.drv\n"));
    assert!(!n.signed_prefix().contains("URL:"));
    assert_eq!(n.unsigned_tail().matches("URL: ").count(), 2);
    assert!(n.unsigned_tail().starts_with("Signature: 1;bayfront;"));
}

#[test]
fn sed_2017_has_its_url_group_signed() {
    let text = data(SED_2017);
    let n = Narinfo::parse(&text).unwrap();
    assert!(n
        .signed_prefix()
        .contains("URL: nar/gzip/8kib1cirdv0qbmn9hdkjzjfx3n5nw1yw-sed-4.4\n"));
    assert!(!n.unsigned_tail().contains("URL:"));
    assert_eq!(n.files().len(), 1);
    // FileSize stands four lines after its URL, behind NarHash & co.
    assert_eq!(n.files()[0].file_size, Some(218663));
    assert_eq!(n.files()[0].compression.as_deref(), Some("gzip"));
    assert_eq!(n.nar_size(), 637360);
    assert!(n.essentials_signed());
    assert_eq!(n.unsigned_tail().lines().count(), 1);
}

#[test]
fn ci_2020_has_two_groups_before_nar_hash() {
    let n = Narinfo::parse(&data(CI_2020)).unwrap();
    assert_eq!(n.files().len(), 2);
    assert_eq!(n.files()[0].compression.as_deref(), Some("gzip"));
    assert_eq!(n.files()[0].file_size, Some(61822));
    assert_eq!(n.files()[1].compression.as_deref(), Some("lzip"));
    assert_eq!(n.files()[1].file_size, Some(52887));
    assert_eq!(n.system(), Some("i586-gnu"));
    assert_eq!(n.references()[0], n.base_name(), "self reference first");
}

#[test]
fn synthetic_has_empty_references() {
    let text = data(SYNTHETIC);
    assert!(text.contains("\nReferences: \n"));
    let n = Narinfo::parse(&text).unwrap();
    assert!(n.references().is_empty());
    assert!(n.essentials_signed());
    assert_eq!(
        n.deriver(),
        Some("zyxwvsrqpnmlkjihgfdcba9876543210-example-1.0.drv")
    );
    assert_eq!(n.system(), None);
    assert_eq!(n.nar_size(), 120);
    // The synthetic narinfo's NarHash is sha256 of the empty string.
    assert_eq!(
        n.nar_hash_bytes(),
        <[u8; 32]>::from(<sha2::Sha256 as sha2::Digest>::digest(b""))
    );
    // `References:` with nothing after the colon means the same.
    let bare = text.replace("References: \n", "References:\n");
    let m = Narinfo::parse(&bare).unwrap();
    assert!(m.references().is_empty());
    assert_eq!(m.text(), bare);
}

#[test]
fn hex_nar_hash_converts_to_nix32() {
    let n = Narinfo::parse(&data(HEX)).unwrap();
    assert_eq!(
        n.nar_hash(),
        "sha256:60adfd293a4d81ad7cd7e47263cbb3fc846309ef91b154a08ba672b558f94ff3"
    );
    let mut expected = [0u8; 32];
    hex::decode_to_slice(
        "60adfd293a4d81ad7cd7e47263cbb3fc846309ef91b154a08ba672b558f94ff3",
        &mut expected,
    )
    .unwrap();
    assert_eq!(n.nar_hash_bytes(), expected);
    // Derived independently with Python: the digest as one little-endian
    // integer, written in base 32 over the nix alphabet, 52 digits,
    // most significant first (the method of tests/nix32.rs's reference
    // encoder, which the nix32 tests check against encode()).
    assert_eq!(
        n.nar_hash_nix32(),
        "sha256:1wsgz5cbawm6ifh59ccixw4n717wng5n6wp4sxyav0ad78lzvbb0"
    );
}

#[test]
fn nix_edge_cases() {
    let ca = Narinfo::parse(&data(CA_EMPTY)).unwrap();
    assert!(ca.references().is_empty());
    assert_eq!(
        ca.ca(),
        Some("fixed:r:sha1:1ak1ymbmsfx7z8kh09jzkr3a4dvkrfjw")
    );
    assert_eq!(ca.deriver(), None);

    let two = Narinfo::parse(&data(TWO_SIGS)).unwrap();
    assert_eq!(two.sigs().len(), 2);
    assert!(two.sigs()[1].starts_with("test1:519iiVLx"));
    assert_eq!(
        two.files()[0].file_hash.as_deref(),
        Some("sha256:05ra3y72i3qjri7xskf9qj8kb29r6naqy1sqpbs3azi3xcigmj56")
    );

    let selfref = Narinfo::parse(&data(SELF_REF)).unwrap();
    assert!(selfref
        .references()
        .iter()
        .any(|r| r == selfref.base_name()));
    assert_eq!(selfref.references().len(), 6);
}

#[test]
fn field_orders_and_unknown_keys() {
    // Shuffled order and an unknown key: accepted, kept in the text.
    let text = "NarSize: 5\nX-Custom: anything at all: yes\nURL: nar/x\nStorePath: /gnu/store/0123456789abcdfghijklmnpqrsvwxyz-x\nFileSize: 3\nNarHash: sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73\nCompression: none\n";
    let n = Narinfo::parse(text).unwrap();
    assert_eq!(n.text(), text);
    assert_eq!(n.files()[0].file_size, Some(3));
    assert_eq!(n.files()[0].compression.as_deref(), Some("none"));
    // No References line: none, and a Guix client would not trust it.
    assert!(n.references().is_empty());
    assert!(!n.essentials_signed());
    let with_refs = format!("{text}References: \n");
    assert!(
        Narinfo::parse(&with_refs).unwrap().essentials_signed(),
        "no Signature line: all in the prefix"
    );
    // No trailing newline is accepted too.
    let trimmed = text.trim_end_matches('\n');
    assert_eq!(Narinfo::parse(trimmed).unwrap().text(), trimmed);
    // A store directory other than /gnu/store and /nix/store.
    let other = text.replace("/gnu/store/", "/var/lib/my-store/");
    assert_eq!(
        Narinfo::parse(&other).unwrap().store_dir(),
        "/var/lib/my-store"
    );
}

#[test]
fn essentials_below_the_signature_are_not_signed() {
    let text = data(SYNTHETIC);
    // Move References below Signature.
    let moved = text.replace("References: \n", "") + "References: \n";
    let n = Narinfo::parse(&moved).unwrap();
    assert!(!n.essentials_signed());
    assert!(n.references().is_empty());
}

#[test]
fn parse_in_checks_the_store_dir() {
    let text = data(BORDEAUX);
    assert!(Narinfo::parse_in(&text, "/gnu/store").is_ok());
    assert!(Narinfo::parse_in(&text, "/gnu/store/").is_ok());
    let err = Narinfo::parse_in(&text, "/nix/store")
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("line 1: StorePath: "), "{err}");
    assert!(
        err.contains("not directly in the store directory \"/nix/store\""),
        "{err}"
    );
    let err = Narinfo::parse_in(&text, "/gnu").unwrap_err().to_string();
    assert!(err.contains("not directly in"), "{err}");
}

#[test]
fn parse_many_reports_lines_of_the_whole_file() {
    let good = data(SYNTHETIC);
    let bad = data(BORDEAUX).replace("NarSize: 282616", "NarSize: lots");
    let text = format!("\n{good}\n\n{bad}\n{good}");
    let records = parse_many(&text);
    assert_eq!(records.len(), 3);
    assert_eq!(records[0].0, 2);
    assert!(records[0].1.is_ok());
    let first_bad = 2 + good.lines().count() + 2;
    assert_eq!(records[1].0, first_bad);
    let err = records[1].1.as_ref().unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "line {}: NarSize: expected a decimal number of bytes, got \"lots\"",
            first_bad + 2
        )
    );
    assert_eq!(records[2].1.as_ref().unwrap().text(), good);
    assert!(parse_many("").is_empty());
    assert!(parse_many("\n\n\n").is_empty());
}

/// A minimal valid narinfo, to be broken by the error table.
const BASE: &str = "StorePath: /gnu/store/0123456789abcdfghijklmnpqrsvwxyz-x-1.0
NarHash: sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73
NarSize: 120
References: 0123456789abcdfghijklmnpqrsvwxyz-x-1.0
Deriver: zyxwvsrqpnmlkjihgfdcba9876543210-x-1.0.drv
URL: nar/lzip/0123456789abcdfghijklmnpqrsvwxyz-x-1.0
Compression: lzip
FileSize: 100
";

#[test]
fn error_messages_name_line_and_field() {
    assert!(Narinfo::parse(BASE).is_ok());
    let hex64 = "a".repeat(64);
    let cases: Vec<(String, &str)> = vec![
        (format!("{BASE}NarHash: sha256:{}\n", "0".repeat(52)), "line 9: NarHash: duplicate field (first on line 2)"),
        (BASE.replace("NarHash: sha256:0mdq", "NarHash: sha256:emdq"), "line 2: NarHash: expected sha256:<52 nix-base32 chars or 64 hex chars>"),
        (BASE.replace("NarHash: sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73", "NarHash: sha1:abc"), "line 2: NarHash: expected sha256:<52 nix-base32 chars or 64 hex chars>, got \"sha1:abc\""),
        (BASE.replace("NarHash: sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73", &format!("NarHash: sha256:{}", &hex64[..63])), "line 2: NarHash: expected sha256:"),
        (BASE.replace("/gnu/store/0123456789abcdfghijklmnpqrsvwxyz-x-1.0\n", "/gnu/store/0123456789abcdfghijklmnpqrsvwxye-x-1.0\n"), "line 1: StorePath: hash part must be 32 nix-base32 characters"),
        (BASE.replace("/gnu/store/0123456789abcdfghijklmnpqrsvwxyz-x-1.0\n", "/gnu/store/0123456789abcdfghijklmnpqrsvwxy-x-1.0\n"), "line 1: StorePath: hash part is 31 characters long, expected 32 before the `-`"),
        (BASE.replace("/gnu/store/0123456789abcdfghijklmnpqrsvwxyz-x-1.0\n", "/gnu/store/0123456789abcdfghijklmnpqrsvwxyz-.x\n"), "line 1: StorePath: name must not start with `.`"),
        (BASE.replace("/gnu/store/0123456789abcdfghijklmnpqrsvwxyz-x-1.0\n", "/gnu/store/0123456789abcdfghijklmnpqrsvwxyz-x/y\n"), "line 1: StorePath: expected <32 nix-base32 chars>-<name>, got \"/gnu/store/0123456789abcdfghijklmnpqrsvwxyz-x/y\""),
        (BASE.replace("/gnu/store/0123456789abcdfghijklmnpqrsvwxyz-x-1.0\n", "/gnu/store/0123456789abcdfghijklmnpqrsvwxyz-x\u{e9}\n"), "line 1: StorePath: name has a character not allowed"),
        (BASE.replace("/gnu/store/0123456789abcdfghijklmnpqrsvwxyz-x-1.0\n", "/gnu/store/0123456789abcdfghijklmnpqrsvwxyz\n"), "line 1: StorePath: expected <32 nix-base32 chars>-<name>"),
        (BASE.replace("StorePath: /gnu/store/", "StorePath: gnu/store/"), "line 1: StorePath: expected /<store dir>/<32 nix-base32 chars>-<name> (an absolute path)"),
        (BASE.replace("StorePath: /gnu/store/", "StorePath: /"), "line 1: StorePath: expected /<store dir>/<32 nix-base32 chars>-<name>: the store directory must not be / itself"),
        (BASE.replace("StorePath: /gnu/store/", "StorePath: /gnu//store/"), "line 1: StorePath: expected /<store dir>/<32 nix-base32 chars>-<name>: the store directory has an empty"),
        (BASE.replace("StorePath: /gnu/store/0123456789abcdfghijklmnpqrsvwxyz-x-1.0\n", ""), "StorePath: missing"),
        (BASE.replace("NarSize: 120\n", ""), "NarSize: missing"),
        (BASE.replace("URL: nar/lzip/0123456789abcdfghijklmnpqrsvwxyz-x-1.0\n", ""), "line 6: Compression: 1 Compression line but only 0 URL lines"),
        (BASE.replace("URL: nar/lzip/0123456789abcdfghijklmnpqrsvwxyz-x-1.0\nCompression: lzip\nFileSize: 100\n", ""), "URL: missing"),
        (format!("{BASE}FileSize: 7\n"), "line 9: FileSize: 2 FileSize lines but only 1 URL line (the i-th FileSize belongs to the i-th URL)"),
        (BASE.replace("NarSize: 120", "NarSize: -120"), "line 3: NarSize: expected a decimal number of bytes, got \"-120\""),
        (BASE.replace("NarSize: 120", "NarSize: 18446744073709551616"), "line 3: NarSize: expected a decimal number of bytes"),
        (BASE.replace("NarSize: 120", "NarSize:  120"), "line 3: NarSize: expected a decimal number of bytes, got \" 120\""),
        (BASE.replace("FileSize: 100", "FileSize: 1e3"), "line 8: FileSize: expected a decimal number of bytes"),
        (format!("{BASE}FileHash: sha256:xyz\n"), "line 9: FileHash: expected sha256:<52 nix-base32 chars or 64 hex chars>"),
        (BASE.replace("-x-1.0.drv", "-x-1.0"), "line 5: Deriver: expected a derivation name ending in .drv"),
        (BASE.replace("Deriver: zyxwvsrqpnmlkjihgfdcba9876543210", "Deriver: zyxwvsrqpnmlkjihgfdcba987654321"), "line 5: Deriver: hash part is 31 characters long"),
        (BASE.replace("References: 0123456789abcdfghijklmnpqrsvwxyz-x-1.0", "References: 0123456789abcdfghijklmnpqrsvwxyz-x-1.0 bogus"), "line 4: References: reference 2 \"bogus\": expected <32 nix-base32 chars>-<name>"),
        (BASE.replace("URL: nar/lzip/", "URL: nar/lzip "), "line 6: URL: expected a URL without spaces"),
        (BASE.replace("Compression: lzip", "Compression:"), "line 7: Compression: expected a compression such as xz, lzip, zstd or none, got an empty value"),
        (BASE.replace("NarSize: 120", "NarSize:120"), "line 3: NarSize: expected a space after `NarSize:`"),
        (BASE.replace("NarSize: 120", "NarSize 120"), "line 3: expected `Key: value`, got \"NarSize 120\""),
        (BASE.replace("NarSize: 120", "Nar Size: 120"), "line 3: expected `Key: value` with a key of letters"),
        (BASE.replace("NarSize: 120\n", "NarSize: 120\n\n"), "line 4: blank line inside a narinfo"),
        (BASE.replace('\n', "\r\n"), "line 1: StorePath: carriage return (lines must end with \\n alone; CRLF is not accepted) at column 61"),
        (BASE.replace("NarSize: 120", "NarSize: 1\u{0}20"), "line 3: NarSize: NUL byte at column 11"),
        (BASE.replace("NarSize: 120", "NarSize: 1\t20"), "line 3: NarSize: control character 0x09 at column 11"),
        (format!("{BASE}Sig: nocolon\n"), "line 9: Sig: expected <key name>:<base64 signature>, got \"nocolon\""),
        (format!("{BASE}Signature: 1;a;b\nSignature: 1;a;c\n"), "line 10: Signature: duplicate field (first on line 9)"),
        (format!("{BASE}System: \n"), "line 9: System: expected a system type such as x86_64-linux, got an empty value"),
        (format!("{BASE}CA: \n"), "line 9: CA: expected a content address"),
        (String::new(), "StorePath: missing"),
    ];
    for (text, expected) in cases {
        let err = Narinfo::parse(&text).expect_err(expected).to_string();
        assert!(
            err.starts_with(expected),
            "expected {expected:?}\n     got {err:?}"
        );
    }
}

#[test]
fn hostile_sizes_are_refused_up_front() {
    let huge = format!("{BASE}X-Pad: {}\n", "a".repeat(MAX_NARINFO_BYTES));
    let err = Narinfo::parse(&huge).unwrap_err().to_string();
    assert!(
        err.contains("more than the limit of 1048576 bytes"),
        "{err}"
    );
    let err = Narinfo::parse_bytes(huge.as_bytes())
        .unwrap_err()
        .to_string();
    assert!(err.contains("more than the limit"), "{err}");

    let many = format!("{BASE}{}", "X: y\n".repeat(MAX_LINES));
    let err = Narinfo::parse(&many).unwrap_err().to_string();
    assert!(
        err.contains(&format!("more than the limit of {MAX_LINES}")),
        "{err}"
    );
    // Exactly MAX_LINES lines is fine.
    let just = format!(
        "{BASE}{}",
        "X: y\n".repeat(MAX_LINES - BASE.lines().count())
    );
    assert!(Narinfo::parse(&just).is_ok());
}

#[test]
fn non_utf8_names_line_and_offset() {
    let mut bytes = BASE.as_bytes().to_vec();
    let at = BASE.find("NarSize").unwrap() + 9;
    bytes[at] = 0xff;
    let err = Narinfo::parse_bytes(&bytes).unwrap_err().to_string();
    assert_eq!(
        err,
        format!("line 3: invalid UTF-8 at byte offset {at} (a narinfo is UTF-8 text)")
    );
}

#[test]
fn nar_hash_in_hex_and_nix32_agree() {
    let digest = <[u8; 32]>::from(<sha2::Sha256 as sha2::Digest>::digest(b""));
    let hexed = BASE.replace(
        "sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73",
        &format!("sha256:{}", hex::encode(digest)),
    );
    let a = Narinfo::parse(BASE).unwrap();
    let b = Narinfo::parse(&hexed).unwrap();
    assert_eq!(a.nar_hash_bytes(), digest);
    assert_eq!(b.nar_hash_bytes(), digest);
    assert_eq!(a.nar_hash_nix32(), b.nar_hash_nix32());
    assert_eq!(
        b.nar_hash_nix32(),
        "sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73"
    );
    // Upper-case hex is accepted too.
    let upper = BASE.replace(
        "sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73",
        &format!("sha256:{}", hex::encode_upper(digest)),
    );
    assert_eq!(Narinfo::parse(&upper).unwrap().nar_hash_bytes(), digest);
}

#[test]
fn unknown_deriver_placeholder_means_none() {
    let text = BASE.replace(
        "Deriver: zyxwvsrqpnmlkjihgfdcba9876543210-x-1.0.drv",
        "Deriver: unknown-deriver",
    );
    let n = Narinfo::parse(&text).unwrap();
    assert_eq!(n.deriver(), None);
    assert_eq!(n.text(), text);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = Narinfo::parse_bytes(&bytes);
    }

    #[test]
    fn arbitrary_strings_never_panic(s in any::<String>()) {
        let _ = Narinfo::parse(&s);
        let _ = Narinfo::parse_in(&s, "/gnu/store");
        let _ = parse_many(&s);
    }

    /// Mutations of a real narinfo: splice random text at a random place,
    /// so most of the input stays well-formed and deep paths get exercised.
    #[test]
    fn mutated_real_narinfos_never_panic(
        which in 0usize..3,
        at in any::<prop::sample::Index>(),
        cut in 0usize..40,
        insert in "[ -~\n\u{e9}\u{1F600}]{0,40}",
    ) {
        let text = data([BORDEAUX, SED_2017, TWO_SIGS][which]);
        let mut at = at.index(text.len() + 1);
        while !text.is_char_boundary(at) { at -= 1; }
        let mut end = (at + cut).min(text.len());
        while !text.is_char_boundary(end) { end -= 1; }
        let mutated = format!("{}{}{}", &text[..at], insert, &text[end..]);
        if let Ok(n) = Narinfo::parse(&mutated) {
            prop_assert_eq!(n.text(), mutated.as_str());
            let _ = (n.base_name(), n.hash_part(), n.name(), n.reference_hashes().count());
            let _ = n.nar_hash_nix32();
        }
        let _ = parse_many(&mutated);
    }
}

// ---------------------------------------------------------------- writing

fn file(url: &str, compression: &str, size: u64, hash: Option<&str>) -> NarFile {
    NarFile {
        url: url.into(),
        compression: Some(compression.into()),
        file_size: Some(size),
        file_hash: hash.map(Into::into),
    }
}

#[test]
fn building_the_synthetic_fields_gives_the_synthetic_file() {
    // The synthetic narinfo is modern `guix publish` output: building its
    // fields in the Guix layout and adding its signature gives it back.
    let text = data(SYNTHETIC);
    let original = Narinfo::parse(&text).unwrap();
    let built = Narinfo::build(&original.fields(), Layout::Guix).unwrap();
    assert_eq!(built.signature(), None);
    assert_eq!(built.prefix_to_sign(), original.signed_prefix());
    assert_eq!(
        built.text(),
        format!("{}URL: nar/lzip/0123456789abcdfghijklmnpqrsvwxyz-example-1.0\nCompression: lzip\nFileSize: 100\n", original.signed_prefix())
    );
    let signed = built
        .with_guix_signature(original.signature().unwrap())
        .unwrap();
    assert_eq!(signed.text(), text);
    assert_eq!(signed, original);
}

#[test]
fn building_nix_fields_gives_the_nix_file() {
    // Nix's own order: every edge file minus its Sig lines is what
    // build(Layout::Nix) writes, and adding the Sig lines gives it back.
    for name in [HEX, CA_EMPTY, TWO_SIGS, SELF_REF] {
        let text = data(name);
        let original = Narinfo::parse(&text).unwrap();
        let mut n = Narinfo::build(&original.fields(), Layout::Nix).unwrap();
        let unsigned: String = text
            .lines()
            .filter(|l| !l.starts_with("Sig: "))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(n.text(), unsigned, "{name}");
        for sig in original.sigs() {
            n = n.with_nix_sig(sig).unwrap();
        }
        assert_eq!(n.text(), text, "{name}");
    }
    // And for the 200 records of the sample.
    let sample = data("nix/cache.nixos.org-sample.narinfos");
    for (line, r) in parse_many(&sample) {
        let original = r.unwrap();
        let n = Narinfo::build(&original.fields(), Layout::Nix).unwrap();
        let n = n.with_nix_sig(&original.sigs()[0]).unwrap();
        assert_eq!(n.text(), original.text(), "record at line {line}");
    }
}

#[test]
fn guix_layout_order() {
    let fields = NarinfoFields {
        store_path: "/gnu/store/0123456789abcdfghijklmnpqrsvwxyz-x-1.0".into(),
        nar_hash: "sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73".into(),
        nar_size: 7,
        references: vec![
            "0123456789abcdfghijklmnpqrsvwxyz-x-1.0".into(),
            "zyxwvsrqpnmlkjihgfdcba9876543210-y".into(),
        ],
        deriver: Some("zyxwvsrqpnmlkjihgfdcba9876543210-x-1.0.drv".into()),
        system: Some("x86_64-linux".into()),
        ca: None,
        files: vec![
            file(
                "nar/lzip/a",
                "lzip",
                5,
                Some("sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73"),
            ),
            file("nar/zstd/a", "zstd", 6, None),
        ],
    };
    let n = Narinfo::build(&fields, Layout::Guix).unwrap();
    assert_eq!(
        n.text(),
        "StorePath: /gnu/store/0123456789abcdfghijklmnpqrsvwxyz-x-1.0
NarHash: sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73
NarSize: 7
References: 0123456789abcdfghijklmnpqrsvwxyz-x-1.0 zyxwvsrqpnmlkjihgfdcba9876543210-y
System: x86_64-linux
Deriver: zyxwvsrqpnmlkjihgfdcba9876543210-x-1.0.drv
URL: nar/lzip/a
Compression: lzip
FileSize: 5
FileHash: sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73
URL: nar/zstd/a
Compression: zstd
FileSize: 6
"
    );
    assert!(n.prefix_to_sign().ends_with(".drv\n"));
    let nix = Narinfo::build(&fields, Layout::Nix).unwrap();
    assert!(nix.text().starts_with(
        "StorePath: /gnu/store/0123456789abcdfghijklmnpqrsvwxyz-x-1.0\nURL: nar/lzip/a\nCompression: lzip\nFileHash: sha256:"
    ));
    assert_eq!(nix.fields(), fields);
}

#[test]
fn build_refuses_what_cannot_be_written() {
    let base = Narinfo::parse(BASE).unwrap().fields();
    let cases: Vec<(NarinfoFields, &str)> = vec![
        (NarinfoFields { system: Some("x86_64-linux\nSignature: 1;evil;x".into()), ..base.clone() }, "System: value \"x86_64-linux\\nSignature: 1;evil;x\" holds the control character '\\n'"),
        (NarinfoFields { references: vec!["0123456789abcdfghijklmnpqrsvwxyz-a 0123456789abcdfghijklmnpqrsvwxyz-b".into()], ..base.clone() }, "References: the value does not read back as given"),
        (NarinfoFields { references: vec![String::new()], ..base.clone() }, "References: the value does not read back"),
        (NarinfoFields { deriver: Some("unknown-deriver".into()), ..base.clone() }, "Deriver: the value does not read back"),
        (NarinfoFields { files: vec![], ..base.clone() }, "URL: missing"),
        (
            NarinfoFields {
                files: vec![NarFile { compression: None, ..file("a", "xz", 1, None) }, file("b", "xz", 1, None)],
                ..base.clone()
            },
            "Compression: URL group 2 has a Compression but group 1 has none",
        ),
        (NarinfoFields { nar_hash: "sha256:zz".into(), ..base.clone() }, "NarHash: expected sha256:<52 nix-base32 chars or 64 hex chars>, got \"sha256:zz\""),
        (NarinfoFields { store_path: "/gnu/store/x".into(), ..base.clone() }, "line 1: StorePath: expected <32 nix-base32 chars>-<name>"),
    ];
    for layout in [Layout::Guix, Layout::Nix] {
        for (fields, expected) in &cases {
            let err = Narinfo::build(fields, layout)
                .expect_err(expected)
                .to_string();
            assert!(
                err.contains(expected),
                "{layout:?}: expected {expected:?}\n     got {err:?}"
            );
        }
    }
}

#[test]
fn guix_signature_replaces_and_keeps_the_rest() {
    let text = data(BORDEAUX);
    let n = Narinfo::parse(&text).unwrap();
    assert_eq!(n.prefix_to_sign(), n.signed_prefix());
    let m = n.with_guix_signature("1;other;AAAA").unwrap();
    assert_eq!(m.signed_prefix(), n.signed_prefix());
    assert_eq!(m.signature(), Some("1;other;AAAA"));
    let old_line = format!("Signature: {}\n", n.signature().unwrap());
    assert_eq!(
        m.text(),
        text.replace(&old_line, "Signature: 1;other;AAAA\n")
    );
    assert_eq!(m.files(), n.files());
    // Putting the original back restores the file exactly.
    assert_eq!(
        m.with_guix_signature(n.signature().unwrap())
            .unwrap()
            .text(),
        text
    );
    assert!(n.with_guix_signature("1;a;b\nURL: evil").is_err());
    assert!(n.with_guix_signature("").is_err());
}

#[test]
fn url_groups_in_the_unsigned_tail_can_change() {
    let text = data(BORDEAUX);
    let n = Narinfo::parse(&text).unwrap();
    let new = [file("https://mirror.example/nar/zstd/x", "zstd", 9, None)];
    let m = n.with_files(&new).unwrap();
    assert_eq!(m.signed_prefix(), n.signed_prefix());
    assert_eq!(m.files(), new);
    assert_eq!(m.signature(), n.signature());
    assert_eq!(
        m.text(),
        format!(
            "{}Signature: {}\nURL: https://mirror.example/nar/zstd/x\nCompression: zstd\nFileSize: 9\n",
            n.signed_prefix(),
            n.signature().unwrap()
        )
    );
    let added = n.with_added_file(file("nar/xz/x", "xz", 10, None)).unwrap();
    assert!(added.text().starts_with(&text), "existing bytes untouched");
    assert_eq!(
        &added.text()[text.len()..],
        "URL: nar/xz/x\nCompression: xz\nFileSize: 10\n"
    );
    assert_eq!(added.files().len(), 3);
    // with_files with the same groups is the identity.
    assert_eq!(n.with_files(n.files()).unwrap().text(), text);
    // No URL at all is not a narinfo.
    assert!(n
        .with_files(&[])
        .unwrap_err()
        .to_string()
        .contains("URL: missing"));
    // A group with a FileHash after groups without is refused.
    let err = n
        .with_added_file(file(
            "nar/xz/x",
            "xz",
            10,
            Some("sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73"),
        ))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("URL group 3 has a FileHash but group 1 has none"),
        "{err}"
    );
}

#[test]
fn signed_url_groups_cannot_change() {
    for (name, line, key) in [(SED_2017, 2, "URL"), (CI_2020, 2, "URL")] {
        let n = Narinfo::parse(&data(name)).unwrap();
        let err = n
            .with_files(&[file("nar/x", "xz", 1, None)])
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!(
                "line {line}: {key}: this URL group line stands above Signature:"
            )),
            "{err}"
        );
        let err = n
            .with_added_file(file("nar/x", "xz", 1, None))
            .unwrap_err()
            .to_string();
        assert!(err.contains("in the signed prefix"), "{err}");
        // Its signature can still be replaced.
        assert_eq!(
            n.with_guix_signature("1;x;y").unwrap().signed_prefix(),
            n.signed_prefix()
        );
    }
}

#[test]
fn nix_url_groups_are_rewritten_in_place() {
    let text = data(TWO_SIGS);
    let n = Narinfo::parse(&text).unwrap();
    let hash = "sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73";
    let new = [
        file("nar/a.nar.zst", "zstd", 1, Some(hash)),
        file("nar/b.nar", "none", 2, Some(hash)),
    ];
    let m = n.with_files(&new).unwrap();
    assert_eq!(m.files(), new);
    assert_eq!(m.sigs(), n.sigs());
    let old_group: String = text
        .lines()
        .skip(1)
        .take(4)
        .map(|l| format!("{l}\n"))
        .collect();
    let new_group = format!(
        "URL: nar/a.nar.zst\nCompression: zstd\nFileHash: {hash}\nFileSize: 1\nURL: nar/b.nar\nCompression: none\nFileHash: {hash}\nFileSize: 2\n"
    );
    assert_eq!(m.text(), text.replacen(&old_group, &new_group, 1));
    let added = n
        .with_added_file(file("nar/c.nar", "none", 3, Some(hash)))
        .unwrap();
    assert_eq!(
        added.text(),
        text.replacen(
            &old_group,
            &format!(
                "{old_group}URL: nar/c.nar\nCompression: none\nFileHash: {hash}\nFileSize: 3\n"
            ),
            1
        )
    );
}

#[test]
fn nix_sig_goes_after_sigs_or_before_ca() {
    let two = Narinfo::parse(&data(TWO_SIGS)).unwrap();
    let three = two.with_nix_sig("k3:AAAA").unwrap();
    assert_eq!(three.text(), format!("{}Sig: k3:AAAA\n", two.text()));
    assert_eq!(three.sigs().len(), 3);

    let ca_text = data(CA_EMPTY);
    let no_sig: String = ca_text
        .lines()
        .filter(|l| !l.starts_with("Sig:"))
        .map(|l| format!("{l}\n"))
        .collect();
    let n = Narinfo::parse(&no_sig).unwrap();
    assert!(n.sigs().is_empty());
    let original_sig = Narinfo::parse(&ca_text).unwrap().sigs()[0].clone();
    assert_eq!(n.with_nix_sig(&original_sig).unwrap().text(), ca_text);
    assert!(n.with_nix_sig("nocolon").is_err());
    assert!(n.with_nix_sig("k:a\nCA: x").is_err());

    // On a signed Guix narinfo the Sig line lands in the tail.
    let g = Narinfo::parse(&data(BORDEAUX)).unwrap();
    let gs = g.with_nix_sig("k:AAAA").unwrap();
    assert_eq!(gs.signed_prefix(), g.signed_prefix());
    assert!(gs.text().ends_with("FileSize: 73413\nSig: k:AAAA\n"));
}

// ------------------------------------------------------- property tests

fn hash_part() -> impl Strategy<Value = String> {
    "[0-9a-df-np-sv-z]{32}"
}

fn name() -> impl Strategy<Value = String> {
    "[A-Za-z0-9+_?=-][A-Za-z0-9+._?=-]{0,24}"
}

fn base_name() -> impl Strategy<Value = String> {
    (hash_part(), name()).prop_map(|(h, n)| format!("{h}-{n}"))
}

fn sha256_field() -> impl Strategy<Value = String> {
    (any::<[u8; 32]>(), any::<bool>()).prop_map(|(d, hexed)| {
        if hexed {
            format!("sha256:{}", hex::encode(d))
        } else {
            format!("sha256:{}", nix32::encode(&d))
        }
    })
}

fn files() -> impl Strategy<Value = Vec<NarFile>> {
    let one = ("[!-~]{1,40}", "[a-z0-9]{1,6}", any::<u64>(), sha256_field());
    (
        proptest::collection::vec(one, 1..=3),
        0usize..=3,
        0usize..=3,
        0usize..=3,
    )
        .prop_map(|(groups, with_compression, with_size, with_hash)| {
            groups
                .into_iter()
                .enumerate()
                .map(|(i, (url, c, size, h))| NarFile {
                    url,
                    compression: (i < with_compression).then_some(c),
                    file_size: (i < with_size).then_some(size),
                    file_hash: (i < with_hash).then_some(h),
                })
                .collect()
        })
}

prop_compose! {
    fn fields()(
        store_dir in prop_oneof![
            Just("/gnu/store".to_string()),
            Just("/nix/store".to_string()),
            "(/[a-z0-9_.-]{1,6}){1,3}".prop_filter("no . or .. components", |d| {
                d.split('/').skip(1).all(|c| c != "." && c != "..")
            }),
        ],
        base in base_name(),
        nar_hash in sha256_field(),
        nar_size in any::<u64>(),
        mut references in proptest::collection::vec(base_name(), 0..6),
        self_ref in any::<Option<prop::sample::Index>>(),
        deriver in proptest::option::of((hash_part(), name()).prop_map(|(h, n)| format!("{h}-{n}.drv"))),
        system in proptest::option::of("[a-z0-9_]{1,8}-[a-z]{1,8}"),
        ca in proptest::option::of("fixed:r:sha256:[0-9a-df-np-sv-z]{52}|text:sha256:[0-9a-df-np-sv-z]{52}"),
        files in files(),
    ) -> NarinfoFields {
        if let Some(at) = self_ref {
            let at = at.index(references.len() + 1);
            references.insert(at, base.clone());
        }
        NarinfoFields {
            store_path: format!("{store_dir}/{base}"),
            nar_hash,
            nar_size,
            references,
            deriver,
            system,
            ca,
            files,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn build_then_parse_gives_the_fields(f in fields(), nix in any::<bool>()) {
        let layout = if nix { Layout::Nix } else { Layout::Guix };
        let n = Narinfo::build(&f, layout).unwrap();
        prop_assert_eq!(n.fields(), f.clone());
        prop_assert_eq!(&Narinfo::parse(n.text()).unwrap(), &n);
        let store_dir = f.store_path.rsplit_once('/').unwrap().0;
        prop_assert_eq!(n.store_dir(), store_dir);
        prop_assert_eq!(&Narinfo::parse_in(n.text(), store_dir).unwrap(), &n);
        prop_assert!(n.signature().is_none());
        if f.references.is_empty() {
            prop_assert!(n.text().contains("\nReferences: \n"));
        }
    }

    #[test]
    fn edits_keep_the_signed_prefix(
        f in fields(),
        sig in "1;[a-z.]{1,12};[A-Za-z0-9+/=]{4,40}",
        nix_sig in "[a-z0-9.-]{1,10}:[A-Za-z0-9+/=]{4,40}",
        new_files in files(),
        extra in files(),
    ) {
        let n = Narinfo::build(&f, Layout::Guix).unwrap();
        let prefix = n.prefix_to_sign().to_string();
        prop_assert!(prefix.contains("StorePath: ") && prefix.contains("\nNarHash: ") && prefix.contains("\nReferences: "));
        prop_assert!(!prefix.contains("\nURL: "));

        let signed = n.with_guix_signature(&sig).unwrap();
        prop_assert_eq!(signed.signed_prefix(), prefix.as_str());
        prop_assert!(signed.essentials_signed());
        prop_assert_eq!(signed.signature(), Some(sig.as_str()));
        prop_assert_eq!(signed.fields(), f.clone());
        prop_assert_eq!(&Narinfo::parse(signed.text()).unwrap(), &signed);

        let resigned = signed.with_guix_signature("1;x;AAAA").unwrap();
        prop_assert_eq!(resigned.signed_prefix(), prefix.as_str());
        prop_assert_eq!(resigned.unsigned_tail().split_once('\n').unwrap().1, signed.unsigned_tail().split_once('\n').unwrap().1);

        let moved = signed.with_files(&new_files).unwrap();
        prop_assert_eq!(moved.signed_prefix(), prefix.as_str());
        prop_assert_eq!(moved.files(), new_files.as_slice());
        prop_assert_eq!(moved.signature(), Some(sig.as_str()));

        let mut all = f.files.clone();
        all.push(extra[0].clone());
        match signed.with_added_file(extra[0].clone()) {
            Ok(added) => {
                prop_assert_eq!(added.signed_prefix(), prefix.as_str());
                prop_assert!(added.text().starts_with(signed.text()));
                prop_assert_eq!(added.files(), all.as_slice());
            }
            Err(e) => {
                // Only refused when the groups could not be told apart.
                let msg = e.to_string();
                prop_assert!(msg.contains("URL group"), "{}", msg);
            }
        }

        let with_sig = signed.with_nix_sig(&nix_sig).unwrap();
        prop_assert_eq!(with_sig.signed_prefix(), prefix.as_str());
        prop_assert_eq!(with_sig.sigs().to_vec(), vec![nix_sig.clone()]);

        // Nix layout: edits keep every other line.
        let x = Narinfo::build(&f, Layout::Nix).unwrap();
        let x2 = x.with_nix_sig(&nix_sig).unwrap().with_files(&new_files).unwrap();
        prop_assert_eq!(x2.fields(), NarinfoFields { files: new_files.clone(), ..f.clone() });
        prop_assert_eq!(x2.sigs().to_vec(), vec![nix_sig]);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Arbitrary (often hostile) values never make the writer panic, and
    /// whatever it accepts reads back as given.
    #[test]
    fn writer_never_panics_on_arbitrary_values(
        store_path in prop_oneof![any::<String>(), "/gnu/store/[0-9a-df-np-sv-z]{32}-.{0,8}"],
        nar_hash in prop_oneof![any::<String>(), sha256_field()],
        references in proptest::collection::vec(any::<String>(), 0..3),
        deriver in proptest::option::of(any::<String>()),
        system in proptest::option::of(any::<String>()),
        url in any::<String>(),
        compression in proptest::option::of(any::<String>()),
        file_hash in proptest::option::of(any::<String>()),
        sig in any::<String>(),
        nix in any::<bool>(),
    ) {
        let f = NarinfoFields {
            store_path,
            nar_hash,
            nar_size: 1,
            references,
            deriver,
            system,
            ca: None,
            files: vec![NarFile { url: url.clone(), compression: compression.clone(), file_size: None, file_hash: file_hash.clone() }],
        };
        let layout = if nix { Layout::Nix } else { Layout::Guix };
        if let Ok(n) = Narinfo::build(&f, layout) {
            prop_assert_eq!(n.fields(), f);
        }
        let real = Narinfo::parse(&data(BORDEAUX)).unwrap();
        if let Ok(n) = real.with_guix_signature(&sig) {
            prop_assert_eq!(n.signed_prefix(), real.signed_prefix());
            prop_assert_eq!(n.signature(), Some(sig.as_str()));
        }
        if let Ok(n) = real.with_nix_sig(&sig) {
            prop_assert_eq!(n.signed_prefix(), real.signed_prefix());
        }
        let file = NarFile { url, compression, file_size: Some(3), file_hash };
        if let Ok(n) = real.with_files(std::slice::from_ref(&file)) {
            prop_assert_eq!(n.signed_prefix(), real.signed_prefix());
            prop_assert_eq!(n.files(), std::slice::from_ref(&file));
        }
        let _ = real.with_added_file(file);
    }
}

#[test]
fn references_keep_file_order() {
    let n = Narinfo::parse(&data(
        "nix/xi429w4ddvb1r77978hm7jfb2jsn559r.gcc-3.4.6-unsorted-refs.narinfo",
    ))
    .unwrap();
    let refs = n.references();
    assert_eq!(refs[0], "a8922c0h87iilxzzvwn2hmv8x210aqb9-glibc-2.7");
    assert_eq!(refs[1], "7w2acjgalb0cm7b3bg8yswza4l7iil9y-binutils-2.18");
    let mut sorted = refs.to_vec();
    sorted.sort();
    assert_ne!(sorted, refs, "the file's order is not sorted and is kept");
    assert_eq!(
        n.reference_hashes().next(),
        Some("a8922c0h87iilxzzvwn2hmv8x210aqb9")
    );
}

#[test]
fn several_narinfos_are_not_one() {
    let sample = data("nix/cache.nixos.org-sample.narinfos");
    let first_len = sample.find("\n\n").unwrap();
    let first_lines = sample[..first_len].lines().count();
    let err = Narinfo::parse(&sample).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!(
            "line {}: blank line inside a narinfo",
            first_lines + 1
        )),
        "{err}"
    );
}
