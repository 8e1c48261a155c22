//! The address forms of every program, end to end: the ones other daemons
//! take (`127.0.0.1:0`, `:port`, `[::1]:port`, plain unix socket paths)
//! beside the distcache `IP:`/`UNIX:` forms, for listening, connecting and
//! `-metrics`; and the errors for values that are none of them.

use std::path::Path;
use std::time::Duration;

use dc_ctx::{Client, Options};
use dc_e2e::{dc_test_verifies, free_port, run, scrape_until, Conn, Daemon, IO_TIMEOUT};

/// How our programs' start-up line begins, after the log's module path
/// (tiny_http logs a "listening on" line of its own at debug level).
const LISTENING: &str = "] listening on ";

/// The addresses a daemon's "listening on ..." log line names, in order,
/// without the " (protocol)" after each (dc_server with several front
/// doors) and whatever follows the list.
fn listening_addresses(daemon: &Daemon) -> Vec<String> {
    let log = daemon.stderr();
    let (_, rest) = log.split_once(LISTENING).expect("a listening line");
    let line = rest.lines().next().unwrap_or_default();
    let list = [" with ", ", up to ", ", forwarding to ", ", relaying to "]
        .iter()
        .filter_map(|end| line.find(end))
        .min()
        .map_or(line, |at| &line[..at]);
    list.split(", ")
        .map(|a| a.split(" (").next().unwrap_or(a).to_string())
        .collect()
}

/// Starts `name` with `args`, waiting for its listening line.
fn start(dir: tempfile::TempDir, name: &str, args: &[&str]) -> Daemon {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    Daemon::start_until_log(dir, name, &args, LISTENING)
}

/// One ADD and GET through the distcache protocol at `address` (any form).
fn add_and_get(address: &str, id: &[u8]) {
    let parsed = address.parse().unwrap_or_else(|e| panic!("{e}"));
    let mut client = Client::new(&parsed, Options::default()).expect("a client");
    client.add(id, b"session-data", 60_000).expect("ADD");
    let got = client.get(id).expect("GET");
    assert_eq!(got.as_deref(), Some(&b"session-data"[..]), "{address}");
}

/// Sends `request` and reads the answer's first bytes.
fn ask(address: &str, request: &[u8], answer_len: usize) -> Vec<u8> {
    let mut conn = Conn::connect(address);
    conn.send(request);
    conn.recv(answer_len)
}

#[test]
fn dc_server_listens_on_port_0_ipv6_and_plain_paths_with_plain_metrics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let memcache_path = dir.path().join("mc.sock");
    let metrics = format!("127.0.0.1:{}", free_port());
    let server = start(
        dir,
        "dc_server",
        &[
            "-listen",
            "127.0.0.1:0",
            "-listen-redis",
            "[::1]:0",
            "-listen-memcache",
            &memcache_path.display().to_string(),
            "-metrics",
            &metrics,
        ],
    );
    let listening = listening_addresses(&server);
    assert_eq!(listening.len(), 3, "{listening:?}");
    let (distcache, redis, memcache) = (&listening[0], &listening[1], &listening[2]);
    // Displayed in canonical form, with the real ports.
    assert!(distcache.starts_with("IP:127.0.0.1:"), "{distcache}");
    assert!(!distcache.ends_with(":0"), "{distcache}");
    assert!(redis.starts_with("IP:[::1]:"), "{redis}");
    assert_eq!(memcache, &format!("UNIX:{}", memcache_path.display()));

    // Each is reachable by its canonical form and by the plain one.
    add_and_get(distcache, b"canonical");
    add_and_get(distcache.strip_prefix("IP:").unwrap(), b"plain");
    assert_eq!(ask(redis, b"*1\r\n$4\r\nPING\r\n", 7), b"+PONG\r\n");
    assert_eq!(ask(memcache, b"version\r\n", 8), b"VERSION ");

    let text = scrape_until(&metrics, |t| {
        t.contains("distcache_requests_total{protocol=\"redis\"} 1")
            && t.contains("distcache_requests_total{protocol=\"memcache\"} 1")
    });
    assert!(
        text.contains("distcache_operations_total{command=\"get\",result=\"hit\"} 2"),
        "{text}"
    );
}

#[test]
fn dc_server_takes_relative_paths_and_every_interface() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("run")).expect("run/");
    let port = free_port();
    let all_interfaces = format!(":{port}");
    // Relative paths are relative to the directory dc_server starts in:
    // run it there (env -C), so no socket lands in the source tree.
    let root = dir.path().to_path_buf();
    let server = dc_e2e::bin("dc_server");
    let args: Vec<String> = [
        "-C",
        &root.display().to_string(),
        &server.display().to_string(),
        "-listen",
        "./dc.sock",
        "-listen",
        &all_interfaces,
        "-listen-redis",
        "run/redis.sock",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let probe = format!("UNIX:{}", root.join("dc.sock").display());
    let mut daemon = Daemon::start_program(Path::new("/usr/bin/env"), dir, &args, &probe);
    assert!(daemon.is_running(), "{}", daemon.stderr());
    // The sockets are bound before the line is logged.
    assert!(
        daemon.wait_for_log(LISTENING, dc_e2e::START_TIMEOUT),
        "{}",
        daemon.stderr()
    );
    let listening = listening_addresses(&daemon);
    // Made absolute before serving (a daemon moves to /).
    assert_eq!(
        listening,
        [
            format!("UNIX:{}", root.join("dc.sock").display()),
            format!("IP:{port}"),
            format!("UNIX:{}", root.join("run/redis.sock").display()),
        ],
        "{}",
        daemon.stderr()
    );
    add_and_get(&root.join("dc.sock").display().to_string(), b"unix");
    add_and_get(&format!("127.0.0.1:{port}"), b"any");
    let redis = root.join("run/redis.sock");
    assert_eq!(
        ask(
            &format!("UNIX:{}", redis.display()),
            b"*1\r\n$4\r\nPING\r\n",
            7
        ),
        b"+PONG\r\n"
    );
}

#[test]
fn dc_client_dc_test_and_dc_snoop_take_the_plain_forms() {
    let server = start(
        tempfile::tempdir().expect("tempdir"),
        "dc_server",
        &["-listen", "[::1]:0"],
    );
    let upstream = listening_addresses(&server).remove(0);
    let upstream_plain = upstream.strip_prefix("IP:").unwrap().to_string();

    let dir = tempfile::tempdir().expect("tempdir");
    let client_socket = dir.path().join("client.sock");
    let metrics = format!(":{}", free_port());
    let client = start(
        dir,
        "dc_client",
        &[
            "-listen",
            &client_socket.display().to_string(),
            "-server",
            &upstream_plain,
            "-metrics",
            &metrics,
        ],
    );
    assert_eq!(
        listening_addresses(&client),
        [format!("UNIX:{}", client_socket.display())]
    );
    assert!(
        client.wait_for_log(&format!("connected to {upstream}"), IO_TIMEOUT),
        "{}",
        client.stderr()
    );
    // dc_test through dc_client by a plain path: every answer checked.
    dc_test_verifies(
        &client_socket.display().to_string(),
        &["-sessions", "5", "-ops", "200", "-persistent"],
    );
    scrape_until(&metrics, |t| {
        t.lines()
            .filter(|l| l.starts_with("distcache_client_requests_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum::<u64>()
            >= 200
    });

    // dc_snoop between dc_test and the server, on :0 and a plain host:port.
    let snoop = start(
        tempfile::tempdir().expect("tempdir"),
        "dc_snoop",
        &["-listen", "127.0.0.1:0", "-server", &upstream_plain],
    );
    let relay = listening_addresses(&snoop).remove(0);
    let out = run(
        "dc_test",
        &[
            "-connect",
            relay.strip_prefix("IP:").unwrap(),
            "-sessions",
            "3",
            "-ops",
            "50",
        ],
        Duration::from_secs(30),
    );
    assert!(
        out.status.success(),
        "dc_test via dc_snoop: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn bad_addresses_are_refused_before_anything_is_bound() {
    let dir = tempfile::tempdir().expect("tempdir");
    let socket = dir.path().join("never.sock");
    let socket_text = socket.display().to_string();
    let metrics_socket = dir.path().join("metrics.sock").display().to_string();
    for (program, args, needles) in [
        (
            "dc_server",
            vec!["-listen", "localhost"],
            vec!["-listen: invalid address \"localhost\"", "./name"],
        ),
        (
            "dc_server",
            vec!["-listen", &socket_text, "-metrics", "9100"],
            vec!["-metrics: invalid address \"9100\"", ":port"],
        ),
        (
            "dc_server",
            vec!["-listen", &socket_text, "-metrics", &metrics_socket],
            vec!["-metrics needs a TCP address", &metrics_socket],
        ),
        (
            "dc_server",
            vec!["-listen", &socket_text, "-metrics", "http://127.0.0.1:9100"],
            vec!["a URL is not an address"],
        ),
        (
            "dc_server",
            vec!["-listen", "::1:9001"],
            vec!["needs brackets, as in [::1]:9001"],
        ),
        (
            "dc_client",
            vec!["-listen", &socket_text, "-server", ":9001"],
            vec!["cannot connect to server address \"IP:9001\""],
        ),
        (
            "dc_client",
            vec!["-listen", &socket_text, "-server", "cachehost"],
            vec!["bad server address", "\"cachehost\""],
        ),
        (
            "dc_test",
            vec!["-connect", ":9001", "-load"],
            vec!["cannot connect to \"IP:9001\""],
        ),
        (
            "dc_snoop",
            vec!["-listen", "ip:9002", "-server", "127.0.0.1:9001"],
            vec!["unknown prefix \"ip\"", "case-sensitive"],
        ),
    ] {
        let out = run(program, &args, Duration::from_secs(10));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{program} {args:?}: {stderr}");
        for needle in needles {
            assert!(stderr.contains(needle), "{program} {args:?}: {stderr}");
        }
        if stderr.contains("invalid address") {
            assert!(stderr.contains(nal::ADDRESS_FORMS), "{stderr}");
        }
        assert!(!socket.exists(), "{program} {args:?} bound {socket_text}");
    }
}
