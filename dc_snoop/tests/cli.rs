//! dc_snoop's command line, run as a process: help, the original's error
//! messages and exit status 1, and a start that binds and stops cleanly.
//! (Also what makes `cargo test` build the binary that the end-to-end tests
//! in `tests/snoop.rs` run.)

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn dc_snoop(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dc_snoop"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run dc_snoop")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn help_lists_the_options_and_exits_0() {
    for h in ["-h", "-help", "--help", "-?"] {
        let out = dc_snoop(&[h]);
        assert!(out.status.success(), "{h}: {}", out.status);
        let text = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
        for option in [
            "--listen",
            "--server",
            "--connect",
            "--hex",
            "--json",
            "--summary",
            "--output",
        ] {
            assert!(text.contains(option), "{h}: {option} missing from\n{text}");
        }
    }
}

#[test]
fn bad_command_lines_exit_1_with_one_error_line() {
    for (args, message) in [
        (&[][..], "Error, must provide -listen and -server"),
        (
            &["-listen", "IP:0"][..],
            "Error, must provide -listen and -server",
        ),
        (&["-bogus"][..], "Error, \"-bogus\" not recognised"),
        (
            &["-listen", "IP:0", "-server", "IP:9001"][..],
            "Error, cannot connect to \"IP:9001\"",
        ),
        (
            &["-listen", "nowhere", "-server", "IP:127.0.0.1:1"][..],
            "Error, invalid address \"nowhere\"",
        ),
        (
            &[
                "-listen",
                "IP:0",
                "-server",
                "IP:127.0.0.1:1",
                "-summary",
                "0",
            ][..],
            "Error, ",
        ),
    ] {
        let out = dc_snoop(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let text = stderr(&out);
        assert!(text.starts_with(message), "{args:?}: {text}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn a_listen_address_in_use_is_an_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = format!("IP:{}", taken.local_addr().expect("addr"));
    let out = dc_snoop(&["-listen", &address, "-server", "IP:127.0.0.1:1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).starts_with("Error, "), "{}", stderr(&out));
}

#[test]
fn starts_listening_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let listen = dir.path().join("snoop.sock");
    let trace = dir.path().join("trace");
    let mut child = Command::new(env!("CARGO_BIN_EXE_dc_snoop"))
        .arg("-listen")
        .arg(format!("UNIX:{}", listen.display()))
        .args(["-connect", "UNIX:/nonexistent/server.sock", "-output"])
        .arg(&trace)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start dc_snoop");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::os::unix::net::UnixStream::connect(&listen).is_err() {
        if Instant::now() > deadline || child.try_wait().ok().flatten().is_some() {
            let _ = child.kill();
            panic!("dc_snoop did not listen on {}", listen.display());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("dc_snoop did not stop on SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(status.success(), "{status}");
    // The probe connection could not be relayed: there is no server.
    let text = std::fs::read_to_string(&trace).expect("trace file");
    assert!(
        text.contains("#0 closed (cannot connect to the server"),
        "{text}"
    );
}
