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

#[test]
fn front_door_mistakes_exit_1_naming_the_option_and_value() {
    for (args, needle) in [
        (&["-listen-redis", "IP:nowhere:port"][..], "-listen-redis"),
        (&["-listen-memcache", "bogus"][..], "-listen-memcache"),
        (&["-listen-redis", "IP:6379", "-max-ttl", "0"][..], "0"),
        (
            &[
                "-listen-redis",
                "IP:6379",
                "-redis-password-file",
                "/nonexistent/pass",
            ][..],
            "/nonexistent/pass",
        ),
        (&["-sessions", "5"][..], "--listen"),
    ] {
        let out = dc_server(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.starts_with("Error, "), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

#[test]
fn an_empty_password_file_is_refused() {
    let dir = std::env::temp_dir().join(format!("dc_server_cli_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("pass");
    std::fs::write(&file, "\n").unwrap();
    let out = dc_server(&[
        "-listen-redis",
        "IP:127.0.0.1:0",
        "-redis-password-file",
        file.to_str().unwrap(),
    ]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("holds no password"));
}

#[test]
fn version_switches_print_the_version() {
    for flag in ["-V", "-version", "--version"] {
        let out = dc_server(&[flag]);
        assert_eq!(out.status.code(), Some(0), "{flag}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            text.trim(),
            format!("dc_server {}", env!("CARGO_PKG_VERSION")),
            "{flag}"
        );
    }
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

/// What the packaged service runs with (/etc/default/dc_server) is a
/// command line dc_server accepts, listening on loopback only.
#[test]
fn the_packaged_options_are_accepted() {
    let words = packaged_options("dc_server", "DC_SERVER_OPTS");
    let args: dc_server::args::Args =
        dc_cli::try_parse_from(std::iter::once("dc_server".to_string()).chain(words.clone()))
            .unwrap_or_else(|e| panic!("{words:?}: {}", dc_cli::error_line(&e)));
    assert_eq!(args.listen, ["IP:127.0.0.1:9001"]);
    for listen in &args.listen {
        let address: nal::Address = listen.parse().unwrap();
        assert!(address.can_listen(), "{listen}");
    }
}
