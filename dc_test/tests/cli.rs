//! dc_test's command line, run as a real process. (Having an integration
//! test also makes `cargo test --workspace` build the binary that the
//! end-to-end tests in tests/ start.)

use std::process::Command;

fn dc_test(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dc_test"))
        .args(args)
        .output()
        .expect("dc_test runs")
}

#[test]
fn help_and_bad_arguments() {
    let out = dc_test(&["-h"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("--persistent"));

    let out = dc_test(&["-connect", "IP:127.0.0.1:1", "-sessions", "513"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("513"));

    let out = dc_test(&[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("connect"));
}
