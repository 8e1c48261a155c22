//! dc_server's command line, run as a real process. (Having an integration
//! test also makes `cargo test --workspace` build the binary that the
//! end-to-end tests in tests/ start.)

use std::process::Command;

fn dc_server(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dc_server"))
        .args(args)
        .output()
        .expect("dc_server runs")
}

#[test]
fn help_lists_the_original_options() {
    for flag in ["-h", "-help", "-?", "--help"] {
        let out = dc_server(&[flag]);
        assert!(out.status.success(), "{flag}");
        let text = String::from_utf8_lossy(&out.stdout);
        for option in [
            "--listen",
            "--sessions",
            "--progress",
            "--daemon",
            "--pidfile",
            "--user",
            "--sockperms",
            "--killable",
        ] {
            assert!(text.contains(option), "{flag}: {option} missing");
        }
    }
}

#[test]
fn an_unknown_switch_exits_1_naming_it() {
    let out = dc_server(&["-listen", "IP:127.0.0.1:0", "-nonsense"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("Error, \"-nonsense\" not recognised"));
}
