//! Generates `include/wssession.h` from the ffi sources with cbindgen, with the version macros of the
//! workspace's version number, and gives the shared library its SONAME.

fn main() {
    let dir = std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-changed=../include/wssession.h");
    let version = Version::from_env();
    if std::env::var("CARGO_CFG_TARGET_FAMILY").is_ok_and(|f| f == "unix")
        && !std::env::var("CARGO_CFG_TARGET_VENDOR").is_ok_and(|v| v == "apple")
    {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,{}", version.soname());
    }
    let mut config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("ffi/cbindgen.toml is readable");
    config.after_includes = Some(version.macros());
    cbindgen::Builder::new()
        .with_crate(&dir)
        .with_config(config)
        .generate()
        .unwrap_or_else(|e| panic!("cbindgen could not generate include/wssession.h: {e}"))
        .write_to_file(dir.join("../include/wssession.h"));
}

/// The package version (the workspace's `version`), as cargo passes it to build scripts.
struct Version {
    full: String,
    major: u64,
    minor: u64,
    patch: u64,
}

impl Version {
    fn from_env() -> Self {
        let part = |name: &str| -> u64 {
            let value = std::env::var(name).unwrap_or_else(|_| panic!("cargo sets {name}"));
            value.parse().unwrap_or_else(|_| panic!("{name} is a number, not {value:?}"))
        };
        Version {
            full: std::env::var("CARGO_PKG_VERSION").expect("cargo sets CARGO_PKG_VERSION"),
            major: part("CARGO_PKG_VERSION_MAJOR"),
            minor: part("CARGO_PKG_VERSION_MINOR"),
            patch: part("CARGO_PKG_VERSION_PATCH"),
        }
    }

    /// `libwssession.so.MAJOR`, or `libwssession.so.0.MINOR` before 1.0: Cargo's compatibility rule,
    /// under which 0.1 and 0.2 are incompatible releases.
    fn soname(&self) -> String {
        if self.major > 0 {
            format!("libwssession.so.{}", self.major)
        } else {
            format!("libwssession.so.0.{}", self.minor)
        }
    }

    /// The header's version macros, checked against `wss_version()` by the dist tests.
    fn macros(&self) -> String {
        format!(
            "\n/** The version of this header (the library's is wss_version()). */\n\
             #define WSS_VERSION_MAJOR {}\n#define WSS_VERSION_MINOR {}\n#define WSS_VERSION_PATCH {}\n\
             #define WSS_VERSION_STRING \"{}\"",
            self.major, self.minor, self.patch, self.full
        )
    }
}
