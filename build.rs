//! Gives the shared library its soname, `libnarherder.so.<major>`, so that
//! programs linked against it load the installed versioned file
//! (`scripts/install` lays out the file and its symlinks).

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if target_os == "linux" {
        let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap_or_else(|_| "0".into());
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libnarherder.so.{major}");
    }
}
