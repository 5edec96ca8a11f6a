//! Writes `include/narherder.h` from `src/capi/` with the pinned cbindgen
//! (a dev-dependency: no global install needed).
//!
//! ```text
//! cargo run --example gen-header            # rewrite include/narherder.h
//! cargo run --example gen-header -- --check # exit 1 if it is stale
//! ```
//!
//! `tests/capi.rs` includes this file and fails when the committed header
//! differs from what [`generate`] produces.

use std::path::Path;

/// The header text for the crate at `crate_dir`, configured by its
/// `cbindgen.toml` plus the `NARHERDER_ABI_VERSION` define.
pub fn generate(crate_dir: &Path) -> Result<String, String> {
    let mut config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))
        .map_err(|e| format!("cbindgen.toml: {e}"))?;
    config.after_includes = Some(format!(
        "\n/* The C ABI version this header describes (see narherder_abi_version). */\n\
         #define NARHERDER_ABI_VERSION {}\n",
        narherder::capi::NARHERDER_ABI_VERSION
    ));
    let bindings = cbindgen::Builder::new()
        // Only the C ABI module (and its submodules): the rest of the crate
        // is no business of the header.
        .with_src(crate_dir.join("src").join("capi").join("mod.rs"))
        .with_config(config)
        .generate()
        .map_err(|e| format!("cbindgen: {e}"))?;
    let mut out = Vec::new();
    bindings.write(&mut out);
    String::from_utf8(out).map_err(|e| format!("cbindgen wrote non-UTF-8: {e}"))
}

/// Where the committed header lives.
pub fn header_path(crate_dir: &Path) -> std::path::PathBuf {
    crate_dir.join("include").join("narherder.h")
}

#[allow(dead_code)]
fn main() -> std::process::ExitCode {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let check = std::env::args().any(|a| a == "--check");
    let text = match generate(crate_dir) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("gen-header: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let path = header_path(crate_dir);
    if check {
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        if current != text {
            eprintln!(
                "{} is stale: run `cargo run --example gen-header`",
                path.display()
            );
            return std::process::ExitCode::from(1);
        }
        return std::process::ExitCode::SUCCESS;
    }
    if let Err(e) = std::fs::write(&path, text) {
        eprintln!("gen-header: {}: {e}", path.display());
        return std::process::ExitCode::from(2);
    }
    println!("wrote {}", path.display());
    std::process::ExitCode::SUCCESS
}
