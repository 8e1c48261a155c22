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
            &["-server", "IP:h:1", "-connect", "IP:h:1"],
            "Error, server \"IP:h:1\" is given twice",
        ),
        (&["-server", "IP:h:1", "-replicas", "0"], "Error, "),
        (
            &["-server", "IP:127.0.0.1:1", "-listen-redis", "bogus"],
            "Error, -listen-redis: ",
        ),
        (
            &[
                "-server",
                "IP:127.0.0.1:1",
                "-listen-memcache",
                "IP:host.invalid:1",
            ],
            "Error, cannot resolve \"IP:host.invalid:1\"",
        ),
        (
            &[
                "-server",
                "IP:127.0.0.1:1",
                "-listen-redis",
                "/tmp/x",
                "-redis-password-file",
                "/nonexistent/pw",
            ],
            "Error, -redis-password-file: cannot read \"/nonexistent/pw\"",
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

/// The words of `VAR="..."` in a contrib/default file, as systemd splits
/// `$VAR` in ExecStart=.
fn packaged_options(file: &str, var: &str) -> Vec<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../contrib/default")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    let value = text
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{var}=")))
        .unwrap_or_else(|| panic!("{var}= missing from {}", path.display()));
    value
        .trim_matches('"')
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// What the packaged service runs with (/etc/default/dc_client) is a
/// command line dc_client accepts: the socket the unit's RuntimeDirectory
/// makes, the dc_server of the same host, the socket given to www-data
/// (the unit's SupplementaryGroups=).
#[test]
fn the_packaged_options_are_accepted() {
    let words = packaged_options("dc_client", "DC_CLIENT_OPTS");
    let args: dc_client::args::Args =
        dc_cli::try_parse_from(std::iter::once("dc_client".to_string()).chain(words.clone()))
            .unwrap_or_else(|e| panic!("{words:?}: {}", dc_cli::error_line(&e)));
    assert_eq!(args.listen, ["UNIX:/run/distcache/dc_client.sock"]);
    let listen: nal::Address = args.listen[0].parse().unwrap();
    assert!(listen.can_listen());
    for server in args.servers().unwrap() {
        let server: nal::Address = server.parse().unwrap();
        assert!(server.can_connect());
    }
    assert_eq!(args.service.sockgroup.as_deref(), Some("www-data"));
    let unit = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../contrib/systemd/dc_client.service"),
    )
    .unwrap();
    assert!(unit.contains("\nRuntimeDirectory=distcache\n"), "{unit}");
    assert!(unit.contains("\nSupplementaryGroups=www-data\n"), "{unit}");
}
