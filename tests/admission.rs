//! Admission under connection floods: a flood of idle connections that
//! fills the connection table cannot lock out a client that sends
//! requests, on dc_server and on dc_client, whether the table is bounded
//! by `-max-connections` / `-max-clients` or by the open files limit; a
//! connection with something in flight is never closed to make room; and
//! nothing spins meanwhile, not even when descriptors run out anyway.
//!
//! The probes print their latencies and the flooded process's CPU share
//! (`cargo test -p dc_e2e --test admission -- --nocapture`).

use std::path::Path;
use std::time::{Duration, Instant};

use dc_e2e::flood::{cpu_time, open_files_limits, set_open_files_soft_limit, Flood, Latencies};
use dc_e2e::{
    free_port, scrape, scrape_until, start_server, tcp_address, Conn, Daemon, IO_TIMEOUT,
};
use dc_protocol::{encode, CommandHeader, Operation};

/// Probes sent during each flood, each on a new connection.
const PROBES: u32 = 20;
/// The longest a probe may wait for its answer, connect included.
const ANSWER_WITHIN: Duration = Duration::from_millis(100);
/// The most CPU the flooded process may use, as a share of wall time.
const CPU_SHARE: f64 = 0.5;
/// A HAVE request and its answer are 15 bytes each.
const HAVE_LEN: usize = 15;

fn have(uid: u32) -> Vec<u8> {
    let mut v = Vec::new();
    encode(
        &mut v,
        CommandHeader::request(uid, Operation::Have),
        b"session",
    )
    .unwrap();
    v
}

/// Asks HAVE on `conn` and waits for the answer; false if the connection
/// closes first.
fn answered(conn: &mut Conn, uid: u32) -> bool {
    conn.send(&have(uid));
    conn.read_to_eof_or(HAVE_LEN).len() == HAVE_LEN
}

/// Sends a whole HAVE and the first 7 bytes of another in one write, and
/// waits for the first answer: by then the server has read the half
/// request too, so the connection is in the middle of a request.
fn make_busy(conn: &mut Conn, uid: u32) {
    let mut bytes = have(uid);
    bytes.extend_from_slice(&have(uid + 1)[..7]);
    conn.send(&bytes);
    assert_eq!(conn.read_to_eof_or(HAVE_LEN).len(), HAVE_LEN);
}

/// Sends the rest of the half request [`make_busy`] left and checks that
/// it is answered.
fn finish_request(conn: &mut Conn, uid: u32) {
    conn.send(&have(uid + 1)[7..]);
    assert_eq!(
        conn.read_to_eof_or(HAVE_LEN).len(),
        HAVE_LEN,
        "the connection in the middle of a request was closed"
    );
}

/// Waits until the peer closes `conn`, with no bytes before.
fn closed(conn: &mut Conn) -> bool {
    conn.read_to_eof().is_empty()
}

/// Floods `address` (served by `target`, process `pid`) with idle
/// connections until the table is full and connections are closed to make
/// room, then checks that [`PROBES`] new clients are each answered within
/// [`ANSWER_WITHIN`] and that the process's CPU time stays under
/// [`CPU_SHARE`] of the time.
fn flood_and_probe(what: &str, target: &Daemon, address: &str, pid: u32, table: usize) {
    let cpu_before = cpu_time(pid);
    let started = Instant::now();
    let flood = Flood::start(address, 1, 2 * table + 50);
    assert!(
        target.wait_for_log("to make room", Duration::from_secs(10)),
        "{what}: the flood never filled the table ({} connections opened); log:\n{}",
        flood.opened(),
        target.stderr()
    );
    let mut latencies = Latencies::default();
    for uid in 0..PROBES {
        let (ok, took) = latencies.time(|| {
            let mut probe = Conn::connect(address);
            answered(&mut probe, uid)
        });
        assert!(ok, "{what}: probe {uid} was closed unanswered");
        assert!(
            took < ANSWER_WITHIN,
            "{what}: probe {uid} took {took:?} during the flood"
        );
        std::thread::sleep(Duration::from_millis(25));
    }
    let wall = started.elapsed();
    let cpu = cpu_time(pid) - cpu_before;
    let opened = flood.stop();
    let share = cpu.as_secs_f64() / wall.as_secs_f64();
    eprintln!(
        "{what}: {PROBES} probes during a flood of {opened} idle connections: median {:?}, \
         max {:?}; CPU {cpu:?} in {wall:?} ({:.0}%)",
        latencies.median(),
        latencies.max(),
        share * 100.0
    );
    assert!(
        share < CPU_SHARE,
        "{what}: {cpu:?} of CPU in {wall:?} of flood"
    );
    assert_eq!(
        target.stderr().matches("to make room").count(),
        1,
        "{what}: evictions are logged once per interval"
    );
}

/// The connection limit from `daemon`'s start-up notice
/// ("... lowered to N: open files limit is 256"). The notice is waited
/// for: the listener can be ready before stderr has been read.
fn lowered_to(daemon: &Daemon, option: &str) -> usize {
    let notice = format!("{option} ");
    daemon.wait_for_log("lowered to", Duration::from_secs(5));
    let log = daemon.stderr();
    let line = log
        .lines()
        .find(|l| l.contains(&notice) && l.contains("lowered to"))
        .unwrap_or_else(|| panic!("no notice of {option} being lowered:\n{log}"));
    assert!(line.contains("open files limit is 256"), "{line}");
    line.split("lowered to ")
        .nth(1)
        .and_then(|rest| rest.split(':').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number in {line}"))
}

/// `program args...` under `prlimit --nofile=256:256` (prlimit execs it,
/// so the pid is the program's).
fn under_fd_limit(program: &str, args: &[String], address: &str) -> Daemon {
    let mut full = vec![
        "--nofile=256:256".to_string(),
        dc_e2e::bin(program).display().to_string(),
    ];
    full.extend(args.iter().cloned());
    Daemon::start_program(
        Path::new("prlimit"),
        tempfile::tempdir().unwrap(),
        &full,
        address,
    )
}

/// The value of one sample (`name{labels} value`), 0 if absent (labelled
/// series appear when first counted).
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

/// The run of both "out of descriptors anyway" tests on `target` (its
/// metrics at `metrics`, named `family`_...): 40 busy connections, the soft
/// limit lowered under them, 5 newcomers closed at once (after sending a
/// request when `send` is set: a unix socket closed by the peer would fail
/// the write), one served in an idle one's place, one left in the backlog
/// for a second without the target spinning, then served once the limit is
/// back. Returns the last scrape.
fn out_of_descriptors_anyway(
    what: &str,
    target: &Daemon,
    metrics: &str,
    family: &str,
    send: bool,
) -> String {
    let pid = target.pid();
    let mut conns: Vec<Conn> = (0..40).map(|_| Conn::connect(&target.address)).collect();
    for (i, c) in conns.iter_mut().enumerate() {
        make_busy(c, 100 * i as u32);
    }
    let (soft, _) = open_files_limits(pid);
    // Well below every connection's descriptor, above the spare's.
    set_open_files_soft_limit(pid, 24);
    let before = cpu_time(pid);
    let started = Instant::now();
    for uid in 0..5 {
        let mut c = Conn::connect(&target.address);
        if send {
            c.send(&have(uid));
        }
        let t = Instant::now();
        assert!(closed(&mut c), "{what}: served with no descriptor to spare");
        assert!(
            t.elapsed() < Duration::from_secs(1),
            "{what}: left waiting {:?}",
            t.elapsed()
        );
    }
    // One connection goes idle: the next newcomer is served in its place.
    finish_request(&mut conns[0], 0);
    let mut served = Conn::connect(&target.address);
    assert!(
        answered(&mut served, 7),
        "{what}: not served in an idle one's place"
    );
    assert!(closed(&mut conns[0]));
    // Now no spare either: the next one waits in the backlog, and the
    // target retries on its tick without spinning.
    let mut waiting = Conn::connect(&target.address);
    waiting.send(&have(8));
    std::thread::sleep(Duration::from_secs(1));
    let cpu = cpu_time(pid) - before;
    let wall = started.elapsed();
    eprintln!("{what} out of descriptors: CPU {cpu:?} in {wall:?}");
    assert!(
        cpu.as_secs_f64() < 0.2 * wall.as_secs_f64(),
        "{what} spun: {cpu:?} of CPU in {wall:?}"
    );
    set_open_files_soft_limit(pid, soft);
    assert_eq!(
        waiting.read_to_eof_or(HAVE_LEN).len(),
        HAVE_LEN,
        "{what}: not served once descriptors were free again:\n{}",
        target.stderr()
    );
    assert!(target.wait_for_log("Too many open files", IO_TIMEOUT));
    let text = scrape(metrics);
    assert!(
        sample(&text, &format!("{family}_accept_errors_total")) >= 6.0,
        "{text}"
    );
    assert!(
        sample(
            &text,
            &format!(r#"{family}_connections_refused_total{{reason="limit"}}"#)
        ) >= 5.0,
        "{text}"
    );
    drop(conns);
    text
}

// ---- dc_server ------------------------------------------------------------

#[test]
fn a_server_out_of_descriptors_serves_new_clients_during_an_idle_flood() {
    let address = tcp_address(free_port());
    let metrics = tcp_address(free_port());
    let args: Vec<String> = ["-listen", &address, "-metrics", &metrics]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let server = under_fd_limit("dc_server", &args, &address);
    let table = lowered_to(&server, "-max-connections");
    assert!((150..256).contains(&table), "{table}");
    flood_and_probe(
        "dc_server under prlimit --nofile=256",
        &server,
        &address,
        server.pid(),
        table,
    );
    // The table ran into its sized limit, never into EMFILE.
    let text = scrape_until(&metrics, |t| {
        sample(t, "distcache_connections_evicted_total") > 0.0
    });
    assert_eq!(
        sample(&text, "distcache_accept_errors_total"),
        0.0,
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"distcache_connections_refused_total{reason="limit"}"#
        ),
        0.0
    );
}

#[test]
fn a_capped_server_serves_new_clients_during_an_idle_flood() {
    let server = start_server(&["-max-connections", "50"]);
    assert!(
        server.wait_for_log(", 50 connections", IO_TIMEOUT),
        "{}",
        server.stderr()
    );
    flood_and_probe(
        "dc_server -max-connections 50",
        &server,
        &server.address,
        server.pid(),
        50,
    );
}

/// A table of three (`target` at `address`, serving `metrics`, whose
/// series start with `prefix`) filled with a busy connection and two idle
/// ones: each newcomer closes the one idle longest, a silent newcomer goes
/// before any that has been answered, and with every one busy a newcomer
/// is refused, logged with `refusing`.
fn busy_kept_and_silent_first(
    target: &Daemon,
    address: &str,
    metrics: &str,
    prefix: &str,
    refusing: &str,
) {
    let connect = || Conn::connect(address);
    // Idle ages a few milliseconds apart, so that their order is plain
    // whichever worker holds each.
    let apart = || std::thread::sleep(Duration::from_millis(20));
    let mut a = connect();
    make_busy(&mut a, 1);
    apart();
    let mut b = connect();
    assert!(answered(&mut b, 2));
    apart();
    let mut c = connect();
    assert!(answered(&mut c, 3));
    apart();
    // Full: the newcomer closes b, idle longest; a is older but busy.
    let mut d = connect();
    assert!(answered(&mut d, 4));
    assert!(closed(&mut b), "b, idle longest, was not the one closed");
    finish_request(&mut a, 1);
    apart();
    // Now c is idle longest; a silent newcomer takes its place.
    let mut silent = connect();
    assert!(closed(&mut c));
    apart();
    // The next one closes the silent one, though d has been idle longer.
    let mut e = connect();
    assert!(answered(&mut e, 5));
    assert!(closed(&mut silent), "the silent one was not closed first");
    assert!(answered(&mut d, 6), "d was closed");
    // Every one busy: a newcomer is refused.
    for (conn, uid) in [(&mut a, 10), (&mut d, 20), (&mut e, 30)] {
        make_busy(conn, uid);
    }
    let mut refused = connect();
    refused.send(&have(40));
    assert!(
        closed(&mut refused),
        "a newcomer was served over busy connections"
    );
    finish_request(&mut a, 10);
    let evicted = format!("{prefix}_connections_evicted_total");
    let limit = format!(r#"{prefix}_connections_refused_total{{reason="limit"}}"#);
    scrape_until(metrics, |t| {
        sample(t, &evicted) == 3.0 && sample(t, &limit) == 1.0
    });
    let log = target.stderr();
    assert_eq!(log.matches("to make room").count(), 1, "{log}");
    assert!(log.contains(refusing), "{log}");
}

#[test]
fn a_busy_connection_is_kept_and_silent_ones_go_first() {
    let metrics = tcp_address(free_port());
    let server = start_server(&["-max-connections", "3", "-metrics", &metrics]);
    // The harness's readiness probe counts until the server has read its
    // close.
    assert!(server.wait_for_log(" closed", IO_TIMEOUT));
    busy_kept_and_silent_first(
        &server,
        &server.address,
        &metrics,
        "distcache",
        "every connection busy: refusing",
    );
}

/// Out of descriptors after all (the limit lowered under the running
/// server, below the descriptors it holds), the server neither spins nor
/// leaves newcomers waiting in the backlog: its spare descriptor accepts
/// one and closes it (every connection busy) or closes an idle connection
/// to serve it; with no spare left it retries on its tick, and serves
/// again once descriptors are free.
#[test]
fn a_server_out_of_descriptors_anyway_neither_spins_nor_hangs() {
    let metrics = tcp_address(free_port());
    let server = start_server(&["-metrics", &metrics]);
    assert!(server.wait_for_log(" closed", IO_TIMEOUT));
    out_of_descriptors_anyway("dc_server", &server, &metrics, "distcache", true);
}

// ---- dc_client ------------------------------------------------------------

/// dc_client on a unix socket in front of a fresh dc_server, optionally
/// under `prlimit --nofile=256:256`, with `extra` arguments.
fn start_proxy(server: &Daemon, limited: bool, extra: &[&str]) -> Daemon {
    let dir = tempfile::tempdir().expect("tempdir");
    let address = format!("UNIX:{}", dir.path().join("dc_client.sock").display());
    let mut args = vec![
        "-listen".to_string(),
        address.clone(),
        "-server".to_string(),
        server.address.clone(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let proxy = if limited {
        let mut full = vec![
            "--nofile=256:256".to_string(),
            dc_e2e::bin("dc_client").display().to_string(),
        ];
        full.extend(args);
        Daemon::start_program(Path::new("prlimit"), dir, &full, &address)
    } else {
        Daemon::start_in(dir, "dc_client", &args, &address)
    };
    assert!(
        proxy.wait_for_log("connected to", IO_TIMEOUT),
        "{}",
        proxy.stderr()
    );
    proxy
}

#[test]
fn a_proxy_out_of_descriptors_serves_new_clients_during_an_idle_flood() {
    let server = start_server(&[]);
    let metrics = tcp_address(free_port());
    let proxy = start_proxy(&server, true, &["-metrics", &metrics]);
    let table = lowered_to(&proxy, "-max-clients");
    assert!((150..256).contains(&table), "{table}");
    let address = proxy.address.clone();
    flood_and_probe(
        "dc_client under prlimit --nofile=256",
        &proxy,
        &address,
        proxy.pid(),
        table,
    );
    let text = scrape_until(&metrics, |t| {
        sample(t, "distcache_client_connections_evicted_total") > 0.0
    });
    assert_eq!(
        sample(&text, "distcache_client_accept_errors_total"),
        0.0,
        "{text}"
    );
}

#[test]
fn a_capped_proxy_serves_new_clients_during_an_idle_flood() {
    let server = start_server(&[]);
    let proxy = start_proxy(&server, false, &["-max-clients", "50"]);
    let address = proxy.address.clone();
    flood_and_probe(
        "dc_client -max-clients 50",
        &proxy,
        &address,
        proxy.pid(),
        50,
    );
}

#[test]
fn a_proxy_keeps_a_busy_client_and_closes_silent_ones_first() {
    let server = start_server(&[]);
    let metrics = tcp_address(free_port());
    let proxy = start_proxy(&server, false, &["-max-clients", "3", "-metrics", &metrics]);
    assert!(proxy.wait_for_log("local client 0 closed", IO_TIMEOUT));
    busy_kept_and_silent_first(
        &proxy,
        &proxy.address,
        &metrics,
        "distcache_client",
        "every one busy",
    );
}

/// dc_client out of descriptors after all: as dc_server, it accepts with
/// its spare and closes (every client busy) or serves in an idle client's
/// place, then retries every 100 ms without spinning until descriptors are
/// free again.
#[test]
fn a_proxy_out_of_descriptors_anyway_neither_spins_nor_hangs() {
    let server = start_server(&[]);
    let metrics = tcp_address(free_port());
    let proxy = start_proxy(&server, false, &["-metrics", &metrics]);
    assert!(proxy.wait_for_log("local client 0 closed", IO_TIMEOUT));
    let text = out_of_descriptors_anyway("dc_client", &proxy, &metrics, "distcache_client", false);
    assert_eq!(sample(&text, "distcache_client_upstream_up"), 1.0, "{text}");
}
