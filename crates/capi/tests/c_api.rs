//! libdistcache from C: install the library cargo built into a temporary
//! prefix with `install.sh`, compile `tests/c/dc_ctx_check.c` with the
//! system C compiler against the installed header and library (shared and
//! static), and run its scenarios against real `dc_server` and `dc_client`
//! processes.
//!
//! `cargo test --workspace` builds the binaries and this package's library
//! (see `common::install` for where) before running this; if the library
//! is missing the tests fail, never skip.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{mpsc, OnceLock};
use std::time::{Duration, Instant};

mod common;

use common::command_output;
use dc_e2e::{free_port, start_server, start_server_unix, tcp_address, Daemon};

/// How long one C scenario may run.
const C_TIMEOUT: Duration = Duration::from_secs(60);

/// The exported API: exactly the original's functions.
const API: [&str; 7] = [
    "DC_CTX_add_session",
    "DC_CTX_free",
    "DC_CTX_get_session",
    "DC_CTX_has_session",
    "DC_CTX_new",
    "DC_CTX_reget_session",
    "DC_CTX_remove_session",
];

/// The installed library and the C program built against it.
struct Installed {
    prefix: PathBuf,
    /// dc_ctx_check linked with -ldistcache (the shared library).
    check: PathBuf,
    /// dc_ctx_check linked with libdistcache.a.
    check_static: PathBuf,
}

fn installed() -> &'static Installed {
    static INSTALLED: OnceLock<Installed> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("capi");
        let prefix = common::install(&work);
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        let source = manifest.join("tests/c/dc_ctx_check.c");
        let include = prefix.join("include");
        let lib = prefix.join("lib");
        let cc = |out: &Path, link: &[&std::ffi::OsStr]| {
            command_output(
                Command::new("cc")
                    .args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"])
                    .arg("-I")
                    .arg(&include)
                    .arg(&source)
                    .arg("-o")
                    .arg(out)
                    .args(link)
                    .arg("-pthread"),
            );
        };
        let check = work.join("dc_ctx_check");
        let libdir = format!("-L{}", lib.display());
        cc(&check, &[libdir.as_ref(), "-ldistcache".as_ref()]);
        // The static archive, with the system libraries distcache.pc lists
        // for static links.
        let check_static = work.join("dc_ctx_check_static");
        let archive = lib.join("libdistcache.a");
        let pc = std::fs::read_to_string(lib.join("pkgconfig/distcache.pc")).expect("distcache.pc");
        let private = pc
            .lines()
            .find_map(|l| l.strip_prefix("Libs.private:"))
            .expect("Libs.private in distcache.pc")
            .split_whitespace()
            .map(std::ffi::OsStr::new);
        let mut link = vec![archive.as_os_str()];
        link.extend(private);
        cc(&check_static, &link);
        Installed {
            prefix,
            check,
            check_static,
        }
    })
}

/// Runs a C program with the installed library on its search path, killing
/// it after [`C_TIMEOUT`].
fn run_c(program: &Path, args: &[&str]) -> Output {
    let child = Command::new(program)
        .args(args)
        .env("LD_LIBRARY_PATH", installed().prefix.join("lib"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
    let pid = child.id();
    let (done, wait) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    match wait.recv_timeout(C_TIMEOUT) {
        Ok(output) => output.expect("C program output"),
        Err(_) => {
            let _ = Command::new("kill")
                .arg("-KILL")
                .arg(pid.to_string())
                .status();
            panic!(
                "{} {args:?} did not finish within {C_TIMEOUT:?}",
                program.display()
            );
        }
    }
}

/// Runs a scenario and asserts it passed (exit 0, "ok").
fn pass(program: &Path, args: &[&str]) -> String {
    let output = run_c(program, args);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success() && stdout.lines().any(|l| l == "ok"),
        "dc_ctx_check {args:?}: {}\nstdout:\n{stdout}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[test]
fn exports_exactly_the_api_under_the_original_soname() {
    let lib = installed().prefix.join("lib");
    let real = lib.join("libdistcache.so.1.0.0");
    let nm = command_output(Command::new("nm").args(["-D", "--defined-only"]).arg(&real));
    let mut symbols: Vec<String> = String::from_utf8_lossy(&nm.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().last().map(str::to_owned))
        .collect();
    symbols.sort();
    assert_eq!(symbols, API, "exported dynamic symbols");
    for line in String::from_utf8_lossy(&nm.stdout).lines() {
        assert!(line.contains(" T "), "not a function: {line}");
    }

    let readelf = command_output(Command::new("readelf").arg("-d").arg(&real));
    let dynamic = String::from_utf8_lossy(&readelf.stdout);
    assert!(
        dynamic.contains("Library soname: [libdistcache.so.1]"),
        "soname:\n{dynamic}"
    );
    assert_eq!(
        std::fs::read_link(lib.join("libdistcache.so.1")).unwrap(),
        Path::new("libdistcache.so.1.0.0")
    );
    assert_eq!(
        std::fs::read_link(lib.join("libdistcache.so")).unwrap(),
        Path::new("libdistcache.so.1")
    );

    // A program linked with -ldistcache asks for the soname.
    let readelf = command_output(Command::new("readelf").arg("-d").arg(&installed().check));
    let dynamic = String::from_utf8_lossy(&readelf.stdout);
    assert!(
        dynamic.contains("Shared library: [libdistcache.so.1]"),
        "NEEDED:\n{dynamic}"
    );
}

#[test]
fn header_matches_the_original_abi_and_the_installed_library_is_loaded() {
    let stdout = pass(&installed().check, &["abi"]);
    let library = installed().prefix.join("lib/libdistcache.so.1");
    assert!(
        stdout.contains(&format!("library={}", library.display())),
        "DC_CTX_new came from elsewhere:\n{stdout}"
    );
    // The header also compiles as C89 and as C++.
    let include = installed().prefix.join("include");
    for (compiler, std) in [("cc", "-std=c89"), ("c++", "-std=c++11")] {
        if compiler == "c++" && Command::new("c++").arg("--version").output().is_err() {
            continue;
        }
        let mut child = Command::new(compiler)
            .args([std, "-pedantic", "-Wall", "-Werror", "-fsyntax-only", "-x"])
            .arg(if compiler == "cc" { "c" } else { "c++" })
            .arg("-I")
            .arg(&include)
            .arg("-")
            .stdin(Stdio::piped())
            .spawn()
            .expect("compiler");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"#include <distcache/dc_client.h>\nint main(void) { return DC_CTX_new(\"UNIX:/x\", DC_CTX_FLAG_PERSISTENT) != 0; }\n")
            .unwrap();
        assert!(child.wait().unwrap().success(), "{compiler} {std}");
    }
}

#[test]
fn pkg_config_file_names_the_install() {
    let prefix = &installed().prefix;
    let pc_dir = prefix.join("lib/pkgconfig");
    let pc = std::fs::read_to_string(pc_dir.join("distcache.pc")).unwrap();
    assert!(pc.contains(&format!("prefix={}", prefix.display())), "{pc}");
    assert!(pc.contains("Libs: -L${libdir} -ldistcache"), "{pc}");
    if Command::new("pkg-config")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("pkg-config not installed: distcache.pc checked by reading it only");
        return;
    }
    let output = command_output(
        Command::new("pkg-config")
            .args(["--cflags", "--libs", "distcache"])
            .env("PKG_CONFIG_PATH", &pc_dir),
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        format!(
            "-I{} -L{} -ldistcache",
            prefix.join("include").display(),
            prefix.join("lib").display()
        )
    );
}

#[test]
fn every_function_per_operation_over_tcp() {
    let server = start_server(&[]);
    pass(&installed().check, &["ops", &server.address, "0"]);
}

#[test]
fn every_function_persistent_with_each_flag_combination() {
    let server = start_server_unix(&[]);
    for flags in ["1", "3", "5", "9", "15"] {
        pass(&installed().check, &["ops", &server.address, flags]);
    }
    let server = start_server(&[]);
    pass(&installed().check, &["ops", &server.address, "15"]);
}

#[test]
fn static_archive_links_and_works() {
    let server = start_server_unix(&[]);
    pass(&installed().check_static, &["ops", &server.address, "1"]);
    pass(&installed().check_static, &["ops", &server.address, "0"]);
}

#[test]
fn bad_arguments_fail_without_killing_the_caller() {
    let server = start_server_unix(&[]);
    pass(&installed().check, &["bad", &server.address]);
}

#[test]
fn forked_child_with_pidcheck_never_shares_the_parents_socket() {
    let server = start_server_unix(&[]);
    pass(&installed().check, &["fork", &server.address]);
}

#[test]
fn one_context_per_thread() {
    let server = start_server(&[]);
    pass(&installed().check, &["threads", &server.address]);
}

/// Starts dc_server on `address` (a unix socket in a directory the caller
/// keeps), logging in a directory of its own.
fn start_server_at(address: &str) -> Daemon {
    let args = ["-listen".to_string(), address.to_string()];
    Daemon::start_in(tempfile::tempdir().unwrap(), "dc_server", &args, address)
}

/// The server restarts between two operations of one context: every flag
/// combination recovers, with RETRY within the call. The C program keeps
/// the default SIGPIPE action while the library writes to the dead unix
/// connection (EPIPE): it lives because the writes use MSG_NOSIGNAL.
#[test]
fn server_restart_is_survived_as_the_flags_say() {
    let dir = tempfile::tempdir().unwrap();
    let address = format!("UNIX:{}", dir.path().join("dc.sock").display());
    for flags in ["0", "1", "5", "9", "13", "15"] {
        let server = start_server_at(&address);
        let mut child = Command::new(&installed().check)
            .args(["restart", &address, flags])
            .env("LD_LIBRARY_PATH", installed().prefix.join("lib"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (lines_tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                if lines_tx.send(line.unwrap_or_default()).is_err() {
                    break;
                }
            }
        });
        let ready = lines.recv_timeout(C_TIMEOUT);
        assert_eq!(
            ready.as_deref(),
            Ok("ready"),
            "flags {flags}: {:?}",
            child.wait_with_output()
        );
        drop(server);
        let _server = start_server_at(&address);
        child.stdin.take().unwrap().write_all(b"go\n").unwrap();
        let deadline = Instant::now() + C_TIMEOUT;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("flags {flags}: no exit after the restart");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let rest: Vec<String> = lines.try_iter().collect();
        let mut stderr = String::new();
        let _ = std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr);
        assert!(
            status.success() && rest.iter().any(|l| l == "ok"),
            "flags {flags}: {status}\nstdout: {rest:?}\nstderr:\n{stderr}"
        );
        if flags != "1" && flags != "9" {
            assert!(
                rest.iter().any(|l| l == "first=1"),
                "flags {flags}: {rest:?}"
            );
        }
    }
}

/// A dc_client with no server behind it answers empty: every call fails at
/// once, none hangs (the original hung at the second call).
#[test]
fn dc_client_without_a_server_fails_fast() {
    let dir = tempfile::tempdir().unwrap();
    let address = format!("UNIX:{}", dir.path().join("client.sock").display());
    let args: Vec<String> = [
        "-listen",
        &address,
        "-server",
        &tcp_address(free_port()),
        "-retry",
        "60000",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let _client = Daemon::start_in(dir, "dc_client", &args, &address);
    let started = Instant::now();
    pass(&installed().check, &["unavailable", &address]);
    assert!(started.elapsed() < Duration::from_secs(20));
}
