//! Shared by the C tests: install the library cargo just built into a
//! temporary prefix with `install.sh`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs `command`, panicking with its output unless it succeeds.
pub fn command_output(command: &mut Command) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Installs libdistcache under `work`/prefix (emptying `work` first) and
/// returns the prefix.
///
/// The library comes from target/<profile>/deps/: `cargo test` builds this
/// package's library there in all its crate types, under their plain names
/// (`libdistcache.so`, `.a`); only `cargo build` copies them up to
/// target/<profile>/, so the copy there can be stale. A missing library
/// fails the test, never skips it.
pub fn install(work: &Path) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let from = exe
        .parent()
        .expect("test executable lives in target/<profile>/deps")
        .to_path_buf();
    for built in ["libdistcache.so", "libdistcache.a"] {
        assert!(
            from.join(built).exists(),
            "{} is not built: `cargo test --workspace` (or `cargo test -p dc_capi`) \
             builds it with this test, as dc_capi's cdylib and staticlib",
            from.join(built).display()
        );
    }
    let _ = std::fs::remove_dir_all(work);
    std::fs::create_dir_all(work).expect("work directory");
    let prefix = work.join("prefix");
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    command_output(
        Command::new(manifest.join("install.sh"))
            .arg("--prefix")
            .arg(&prefix)
            .arg("--from")
            .arg(&from),
    );
    prefix
}
