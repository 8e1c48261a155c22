//! dc_client's command line, run as a real process: the original's error
//! lines and exit codes, and a clean start and stop. (Its proxying is
//! tested end to end in the workspace's `tests/client.rs`.)

use std::os::unix::net::UnixStream;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

const BIN: &str = env!("CARGO_BIN_EXE_dc_client");

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("dc_client runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn help_exits_zero() {
    for h in ["-h", "-help", "-?", "--help"] {
        let out = run(&[h]);
        assert_eq!(out.status.code(), Some(0), "{h}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("--server"), "{h}: {text}");
    }
}

#[test]
fn command_line_errors_exit_one_with_the_originals_lines() {
    let cases: &[(&[&str], &str)] = &[
        (&[], "Error, no server specified!"),
        (
            &["-server", "IP:h:1", "-connect", "IP:h:2"],
            "Error, too many servers",
        ),
        (
            &["-server", "IP:9001"],
            "Error, cannot connect to server address \"IP:9001\"",
        ),
        // "NOPE:1" is now host:port; a bare word is not an address.
        (&["-server", "NOPE"], "Error, bad server address"),
        (
            &["-server", "IP:127.0.0.1:1", "-listen", "bogus"],
            "Error, bad listen address",
        ),
        (&["-server", "IP:127.0.0.1:1", "-retry", "0"], "Error, "),
        (&["-server", "IP:127.0.0.1:1", "-idle", "abc"], "abc"),
        (
            &["-server", "IP:127.0.0.1:1", "-bogus"],
            "Error, \"-bogus\" not recognised",
        ),
        (&["-server"], "Error, "),
    ];
    for (args, needle) in cases {
        let out = run(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(needle), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn a_server_name_that_does_not_resolve_exits_one_before_binding() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("dc.sock");
    let listen = format!("UNIX:{}", sock.display());
    let out = run(&[
        "-listen",
        &listen,
        "-server",
        "IP:no-such-host.invalid:9001",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).starts_with("Error, "), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no-such-host.invalid"),
        "{}",
        stderr(&out)
    );
    assert!(!sock.exists(), "the socket was bound");
}

#[test]
fn a_listen_address_that_cannot_be_bound_exits_one() {
    let out = run(&[
        "-listen",
        "UNIX:/nonexistent-dir/dc.sock",
        "-server",
        "IP:127.0.0.1:1",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).starts_with("Error, "), "{}", stderr(&out));
}

#[test]
fn the_socket_is_owner_and_group_only_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("dc.sock");
    let mut child = Command::new(BIN)
        .arg("-listen")
        .arg(format!("UNIX:{}", sock.display()))
        .args(["-server", "IP:127.0.0.1:1"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while UnixStream::connect(&sock).is_err() {
        assert!(
            Instant::now() < deadline,
            "dc_client did not start listening"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // The socket accepts from the moment it is bound (at mode 0600, under
    // a private umask), a moment before it is given its final mode.
    use std::os::unix::fs::PermissionsExt;
    let mode = || std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
    while mode() != 0o660 && Instant::now() < deadline {
        assert_eq!(mode() & 0o007, 0, "others may connect");
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(mode(), 0o660);
}

#[test]
fn a_daemon_keeps_its_logs_in_the_logfile() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("dc.sock");
    let pidfile = dir.path().join("dc.pid");
    let logfile = dir.path().join("dc.log");
    let out = Command::new(BIN)
        .arg("-listen")
        .arg(format!("UNIX:{}", sock.display()))
        .args(["-server", "IP:127.0.0.1:1", "-daemon", "-pidfile"])
        .arg(&pidfile)
        .arg("-logfile")
        .arg(&logfile)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "the parent returns at once");
    let deadline = Instant::now() + Duration::from_secs(10);
    let read_log = || std::fs::read_to_string(&logfile).unwrap_or_default();
    while !read_log().contains("listening on") || !pidfile.exists() {
        assert!(
            Instant::now() < deadline,
            "no log line; log:\n{}",
            read_log()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    UnixStream::connect(&sock).expect("the daemon serves");
    kill(Pid::from_raw(pid), Signal::SIGTERM).unwrap();
    while pidfile.exists() {
        assert!(Instant::now() < deadline, "the daemon did not stop");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        read_log().contains("stopped by signal 15"),
        "{}",
        read_log()
    );
}

#[test]
fn starts_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("dc.sock");
    let pidfile = dir.path().join("dc.pid");
    // No server listens on port 1: dc_client runs regardless.
    let mut child = Command::new(BIN)
        .arg("-listen")
        .arg(format!("UNIX:{}", sock.display()))
        .args(["-server", "IP:127.0.0.1:1", "-sockperms", "600", "-pidfile"])
        .arg(&pidfile)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while UnixStream::connect(&sock).is_err() || !pidfile.exists() {
        assert!(
            Instant::now() < deadline,
            "dc_client did not start listening"
        );
        assert!(child.try_wait().unwrap().is_none(), "dc_client exited");
        std::thread::sleep(Duration::from_millis(10));
    }
    let pid = std::fs::read_to_string(&pidfile).unwrap();
    assert_eq!(pid.trim(), child.id().to_string());
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "dc_client did not stop");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(status.code(), Some(0));
    assert!(!sock.exists(), "the socket file is removed");
    assert!(!pidfile.exists(), "the pidfile is removed");
}
