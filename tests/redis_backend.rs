//! dc_client with a Redis backend (`-server redis://...`: one server on
//! dc_client's own loop; Sentinel, Cluster and TLS through the redis
//! crate on the backend's thread), against real
//! redis-server processes on loopback started by each test: one server;
//! a Redis Cluster of three masters and three replicas; one master, one
//! replica and three sentinels. Each test kills what a failover is about
//! and holds dc_client to failing fast meanwhile, giving no wrong answer,
//! and carrying on by itself.
//!
//! Needs redis-server and redis-cli (Debian's redis-server and
//! redis-tools); sentinels are `redis-server --sentinel`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use dc_ctx::{Client, Options};
use dc_e2e::{
    free_port, installed_program, run, run_command, tcp_address, throwaway_redis_args, Conn,
    Daemon, IO_TIMEOUT,
};
use nix::sys::signal::Signal;
use serde_json::Value;

/// The cluster's and the sentinels' failure detection.
const NODE_TIMEOUT_MS: u64 = 1000;

fn redis_server() -> PathBuf {
    installed_program("redis-server", "redis-server")
}

fn redis_cli(args: &[&str], input: &[u8]) -> String {
    let out = run_command(
        Command::new(installed_program("redis-cli", "redis-tools")).args(args),
        input,
        Duration::from_secs(30),
    );
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// The tests of this file run one at a time: a cluster takes twelve ports
/// (each node's and its bus port, 10000 above), and a redis-server that
/// cannot bind its port exits only after another test's server there has
/// answered the readiness probe.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A port free now, with the one 10000 above it (a cluster node's bus).
fn free_port_pair() -> u16 {
    loop {
        let port = free_port();
        if port < 55000 && std::net::TcpListener::bind(("127.0.0.1", port + 10000)).is_ok() {
            return port;
        }
    }
}

/// A redis-server with `extra` options on a free port, in a directory of
/// its own (its cluster or sentinel file goes there), checked to be ours.
fn start_redis(extra: &[String]) -> (Daemon, u16) {
    for _ in 0..5 {
        let port = free_port_pair();
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().display().to_string();
        let mut args = throwaway_redis_args(port, &path);
        args.extend(extra.iter().map(|a| a.replace("{dir}", &path)));
        let daemon = Daemon::start_program(&redis_server(), dir, &args, &tcp_address(port));
        if redis_cli(&["-p", &port.to_string(), "config", "get", "dir"], b"").contains(&path) {
            return (daemon, port);
        }
    }
    panic!("could not start redis-server on a free port");
}

/// The same server again on its port (after a kill).
fn restart_redis(port: u16) -> Daemon {
    let dir = tempfile::tempdir().expect("tempdir");
    let args = throwaway_redis_args(port, &dir.path().display().to_string());
    Daemon::start_program(&redis_server(), dir, &args, &tcp_address(port))
}

/// dc_client on a unix socket (distcache) and a loopback port (RESP), in
/// front of `server`, with `extra` options; not waited for.
fn spawn_dc_client(server: &str, extra: &[&str]) -> (Daemon, u16) {
    let dir = tempfile::tempdir().expect("tempdir");
    let address = format!("UNIX:{}", dir.path().join("dc.sock").display());
    let resp = free_port();
    let mut args: Vec<String> = [
        "-listen",
        &address,
        "-listen-redis",
        &tcp_address(resp),
        "-server",
        server,
        "-backend-prefix",
        "sess:",
    ]
    .map(String::from)
    .to_vec();
    args.extend(extra.iter().map(|s| s.to_string()));
    (Daemon::start_in(dir, "dc_client", &args, &address), resp)
}

/// [`spawn_dc_client`], once it has reached `server`.
fn start_dc_client(server: &str) -> (Daemon, u16) {
    let (dc, resp) = spawn_dc_client(server, &[]);
    // (One server is spoken to on dc_client's loop and logged by its
    // address; Sentinel and Cluster by their URL.)
    assert!(
        dc.wait_for_log("connected to ", IO_TIMEOUT),
        "dc_client did not reach {server}:\n{}",
        dc.stderr()
    );
    (dc, resp)
}

fn client(dc: &Daemon) -> Client {
    Client::new(&dc.address.parse().unwrap(), Options::persistent()).unwrap()
}

fn session(i: usize) -> (Vec<u8>, Vec<u8>) {
    (
        format!("redis-session-{i:04}").into_bytes(),
        format!("data {i} ").repeat(20).into_bytes(),
    )
}

/// Stores sessions 0 to `n` - 1 through `c`.
fn add_sessions(c: &mut Client, n: usize) {
    for i in 0..n {
        let (id, data) = session(i);
        c.add(&id, &data, 600_000).unwrap();
    }
}

/// In `dir`: a certificate for 127.0.0.1 and localhost with its CA, and
/// one from another CA, which no server of these tests chains to.
fn tls_certs(dir: &Path) -> (dc_tls::TlsFiles, dc_tls::TlsFiles) {
    let ca = dc_tls::testing::TestCa::new("redis CA");
    let files = ca.issue(dir, "redis", &["localhost", "127.0.0.1"], &ca);
    let other = dc_tls::testing::TestCa::new("another CA");
    let foreign = other.issue(dir, "other", &["x"], &other);
    (files, foreign)
}

/// dc_client on `url` trusting `foreign`'s CA: it logs `logged` and fails
/// its operations at once.
fn refused_with(url: &str, foreign: &dc_tls::TlsFiles, logged: &str) {
    let ca_file = foreign.ca.display().to_string();
    let (dc, resp_port) = spawn_dc_client(url, &["-backend-tls-ca", &ca_file]);
    assert!(dc.wait_for_log(logged, IO_TIMEOUT), "{}", dc.stderr());
    let (answer, took) = resp(resp_port, GET);
    assert_eq!(answer, "-ERR cache unavailable\r\n");
    assert!(took < Duration::from_millis(200), "{took:?}");
}

/// dc_test's load through dc_client for `seconds`; its JSON summary. With
/// `outages`, "no cache could answer" and misses (writes a failover lost)
/// are tolerated; wrong data never is.
fn load(address: &str, proto: &str, seconds: &str, outages: bool) -> Value {
    let mut args = vec![
        "-connect",
        address,
        "--proto",
        proto,
        "--load",
        "--conns",
        "4",
        "--depth",
        "2",
        "--duration",
        seconds,
        "--ids",
        "2000",
        "--json",
    ];
    if outages {
        args.extend(["--allow-outages", "--allow-evictions"]);
    }
    let out = run("dc_test", &args, Duration::from_secs(120));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "dc_test {args:?}:\n{stderr}");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"))
}

/// A RESP request through dc_client's front door, and how long it took.
fn resp(port: u16, request: &[u8]) -> (String, Duration) {
    let mut conn = Conn::connect(&tcp_address(port));
    let started = Instant::now();
    conn.send(request);
    let mut got = Vec::new();
    while !got.ends_with(b"\r\n") {
        got.extend(conn.recv(1));
    }
    (
        String::from_utf8_lossy(&got).into_owned(),
        started.elapsed(),
    )
}

const GET: &[u8] = b"*2\r\n$3\r\nGET\r\n$5\r\nprobe\r\n";
const SET: &[u8] = b"*3\r\n$3\r\nSET\r\n$5\r\nprobe\r\n$1\r\nv\r\n";

/// Polls `ok` every 10 ms until it holds; how long that took.
fn until(what: &str, bound: Duration, mut ok: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !ok() {
        assert!(started.elapsed() < bound, "{what}: not within {bound:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
    started.elapsed()
}

#[test]
fn one_redis_server_serves_fails_fast_and_is_used_again() {
    let _serial = serial();
    let (redis, port) = start_redis(&[]);
    let (dc, resp_port) = start_dc_client(&format!("redis://127.0.0.1:{port}"));
    let summary = load(&dc.address, "distcache", "1.5", false);
    assert_eq!(summary["errors"], 0, "{summary}");
    let summary = load(&tcp_address(resp_port), "redis", "1", false);
    assert_eq!(summary["errors"], 0, "{summary}");
    // The keys are under the prefix in Redis.
    assert_eq!(resp(resp_port, SET).0, "+OK\r\n");
    assert!(redis_cli(&["-p", &port.to_string(), "exists", "sess:probe"], b"").starts_with('1'));

    redis.signal(Signal::SIGKILL);
    drop(redis);
    let (answer, took) = resp(resp_port, GET);
    assert_eq!(answer, "-ERR cache unavailable\r\n");
    assert!(took < Duration::from_millis(200), "{took:?}");

    let _redis = restart_redis(port);
    let back = until("served again", Duration::from_secs(5), || {
        resp(resp_port, SET).0 == "+OK\r\n"
    });
    eprintln!("redis restarted: dc_client served again after {back:?}");
    assert!(back < Duration::from_millis(1500), "{back:?}");
}

/// `cluster nodes`: (port, is master, master's id or "-", id) of each node.
fn cluster_nodes(port: u16) -> Vec<(u16, bool, String, String)> {
    redis_cli(&["-p", &port.to_string(), "cluster", "nodes"], b"")
        .lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split(' ').collect();
            let port = f.get(1)?.split(['@', ':']).nth(1)?.parse().ok()?;
            let master = f.get(2)?.contains("master") && !f[2].contains("fail");
            Some((port, master, f.get(3)?.to_string(), f[0].to_string()))
        })
        .collect()
}

#[test]
fn a_cluster_failover_costs_fast_failures_only_and_service_resumes() {
    let _serial = serial();
    let cluster_args = [
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        "{dir}/nodes.conf",
        "--cluster-node-timeout",
        &NODE_TIMEOUT_MS.to_string(),
    ]
    .map(String::from);
    let (nodes, ports): (Vec<Daemon>, Vec<u16>) =
        (0..6).map(|_| start_redis(&cluster_args)).unzip();
    let mut nodes: Vec<Option<Daemon>> = nodes.into_iter().map(Some).collect();
    let members: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let mut create: Vec<&str> = vec!["--cluster", "create"];
    create.extend(members.iter().map(String::as_str));
    create.extend(["--cluster-replicas", "1", "--cluster-yes"]);
    let out = redis_cli(&create, b"");
    assert!(out.contains("[OK] All 16384 slots covered"), "{out}");
    until("cluster state ok", Duration::from_secs(20), || {
        ports.iter().all(|p| {
            redis_cli(&["-p", &p.to_string(), "cluster", "info"], b"").contains("cluster_state:ok")
        })
    });

    let url = format!("redis+cluster://{}", members[..3].join(","));
    let (dc, _) = start_dc_client(&url);
    let mut c = client(&dc);
    const N: usize = 300;
    add_sessions(&mut c, N);
    // Replicated to every replica before a master dies.
    until("replicas caught up", Duration::from_secs(10), || {
        let info = |p: &u16| redis_cli(&["-p", &p.to_string(), "dbsize"], b"");
        let total: usize = ports
            .iter()
            .map(|p| info(p).trim().parse::<usize>().unwrap_or(0))
            .sum();
        total == 2 * N
    });
    let topology = cluster_nodes(ports[0]);
    let (victim, _, _, victim_id) = topology
        .iter()
        .find(|(_, master, _, _)| *master)
        .cloned()
        .unwrap();
    // Which sessions the victim's shard holds (the others must keep
    // hitting through the failover).
    let script: String = (0..N)
        .map(|i| format!("EXISTS sess:{}\n", String::from_utf8_lossy(&session(i).0)))
        .collect();
    let owned: Vec<bool> = redis_cli(&["-p", &victim.to_string(), "--raw"], script.as_bytes())
        .lines()
        // (redis-cli follows a MOVED error with an empty line.)
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.trim() == "1")
        .collect();
    assert_eq!(owned.len(), N);
    let on_victim = owned.iter().filter(|&&o| o).count();
    assert!(on_victim > 0 && on_victim < N, "{on_victim}");

    let index = ports.iter().position(|&p| p == victim).unwrap();
    let summary = std::thread::scope(|s| {
        let dc_address = dc.address.clone();
        let load = s.spawn(move || load(&dc_address, "distcache", "6", true));
        std::thread::sleep(Duration::from_millis(1000));
        nodes[index].take().unwrap().signal(Signal::SIGKILL);
        let killed = Instant::now();
        // Sessions on the surviving shards hit all along.
        let mut c = client(&dc);
        for i in (0..N).filter(|&i| !owned[i]) {
            let (id, data) = session(i);
            assert_eq!(
                c.get(&id).unwrap().as_deref(),
                Some(&data[..]),
                "session {i}"
            );
        }
        // A session of the dead master's shard: failures, fast, until its
        // replica is promoted; then the session again.
        let lost = (0..N).find(|&i| owned[i]).unwrap();
        let (id, data) = session(lost);
        let mut worst = Duration::ZERO;
        let resumed = until("the shard served again", Duration::from_secs(15), || {
            let started = Instant::now();
            let got = c.get(&id);
            worst = worst.max(started.elapsed());
            match got {
                Ok(Some(got)) => {
                    assert_eq!(got, data);
                    true
                }
                Ok(None) => panic!("the promoted replica lost session {lost}"),
                Err(_) => false,
            }
        });
        let resumed = killed.elapsed().max(resumed);
        eprintln!(
            "cluster master :{victim} killed: its shard served again after {resumed:?} \
             (cluster-node-timeout {NODE_TIMEOUT_MS} ms); slowest failed answer {worst:?}"
        );
        assert!(
            worst < Duration::from_millis(1500),
            "an answer took {worst:?}"
        );
        assert!(
            resumed < Duration::from_millis(NODE_TIMEOUT_MS + 6000),
            "{resumed:?}"
        );
        load.join().unwrap()
    });
    assert_eq!(
        summary["errors"], 0,
        "wrong answers during the failover: {summary}"
    );
    assert!(
        cluster_nodes(ports[(index + 1) % 6])
            .iter()
            .any(|(_, master, _, id)| *master && *id != victim_id),
        "a replica was promoted"
    );
}

/// A sentinel's configuration on `port`, monitoring the master on
/// `master`; over TLS only, with `tls`'s certificate, if given.
fn sentinel_conf(dir: &Path, port: u16, master: u16, tls: Option<&dc_tls::TlsFiles>) -> PathBuf {
    let conf = dir.join(format!("sentinel-{port}.conf"));
    let listen = match tls {
        None => format!("port {port}\n"),
        Some(files) => format!(
            "port 0\ntls-port {port}\ntls-cert-file {}\ntls-key-file {}\n\
             tls-ca-cert-file {}\ntls-auth-clients no\ntls-replication yes\n",
            files.cert.display(),
            files.key.display(),
            files.ca.display()
        ),
    };
    std::fs::write(
        &conf,
        format!(
            "{listen}bind 127.0.0.1\ndir {}\n\
             sentinel monitor mymaster 127.0.0.1 {master} 2\n\
             sentinel down-after-milliseconds mymaster {NODE_TIMEOUT_MS}\n\
             sentinel failover-timeout mymaster 3000\n\
             sentinel parallel-syncs mymaster 1\n",
            dir.display()
        ),
    )
    .unwrap();
    conf
}

#[test]
fn dc_client_follows_a_sentinel_promotion_by_itself() {
    let _serial = serial();
    let (master, pm) = start_redis(&[]);
    let (_replica, pr) = start_redis(&["--replicaof".into(), "127.0.0.1".into(), pm.to_string()]);
    let sentinel_ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let _sentinels: Vec<Daemon> = sentinel_ports
        .iter()
        .map(|&p| {
            let dir = tempfile::tempdir().expect("tempdir");
            let conf = sentinel_conf(dir.path(), p, pm, None);
            let args = [conf.display().to_string(), "--sentinel".to_string()];
            Daemon::start_program(&redis_server(), dir, &args, &tcp_address(p))
        })
        .collect();
    until(
        "the sentinels see the replica",
        Duration::from_secs(20),
        || {
            redis_cli(
                &[
                    "-p",
                    &sentinel_ports[0].to_string(),
                    "sentinel",
                    "replicas",
                    "mymaster",
                ],
                b"",
            )
            .contains(&pr.to_string())
        },
    );
    let list: Vec<String> = sentinel_ports
        .iter()
        .map(|p| format!("127.0.0.1:{p}"))
        .collect();
    let (dc, resp_port) = start_dc_client(&format!("redis+sentinel://{}/mymaster", list.join(",")));
    let mut c = client(&dc);
    const N: usize = 100;
    add_sessions(&mut c, N);
    until("the replica caught up", Duration::from_secs(10), || {
        redis_cli(&["-p", &pr.to_string(), "dbsize"], b"").trim() == N.to_string()
    });

    master.signal(Signal::SIGKILL);
    drop(master);
    let killed = Instant::now();
    let mut worst = Duration::ZERO;
    until("writes served again", Duration::from_secs(30), || {
        let (answer, took) = resp(resp_port, SET);
        worst = worst.max(took);
        answer == "+OK\r\n"
    });
    let promoted = killed.elapsed();
    eprintln!(
        "sentinel: master killed, dc_client writing to the promoted replica after {promoted:?} \
         (down-after {NODE_TIMEOUT_MS} ms); slowest failed answer {worst:?}"
    );
    assert!(
        worst < Duration::from_millis(1500),
        "an answer took {worst:?}"
    );
    assert!(redis_cli(&["-p", &pr.to_string(), "role"], b"").starts_with("master"));
    // What was replicated is served by the new master.
    let mut c = client(&dc);
    for i in 0..N {
        let (id, data) = session(i);
        assert_eq!(
            c.get(&id).unwrap().as_deref(),
            Some(&data[..]),
            "session {i}"
        );
    }
    assert!(
        dc.stderr()
            .contains("lost the connection to redis+sentinel://"),
        "{}",
        dc.stderr()
    );
}

/// `rediss://` with `-backend-tls-ca`: the connection to Redis is TLS,
/// checked against the given CA; a server whose certificate does not
/// chain to it is refused (and its operations fail at once).
#[test]
fn tls_to_redis_is_checked_against_the_given_ca() {
    let _serial = serial();
    let dir = tempfile::tempdir().expect("tempdir");
    let (files, foreign) = tls_certs(dir.path());
    let (_redis, tls_port) = start_tls_redis(&files, &[]);
    let url = format!("rediss://127.0.0.1:{tls_port}");
    let ca_file = files.ca.display().to_string();
    let (dc, resp_port) = spawn_dc_client(&url, &["-backend-tls-ca", &ca_file]);
    assert!(
        dc.wait_for_log("connected to rediss://", IO_TIMEOUT),
        "{}",
        dc.stderr()
    );
    assert_eq!(resp(resp_port, SET).0, "+OK\r\n");
    assert_eq!(resp(resp_port, GET).0, "$1\r\n");
    drop(dc);
    // The server's certificate does not chain to this CA.
    refused_with(&url, &foreign, "cannot connect to rediss://");
}

/// A redis-server speaking TLS only, on a free port (its cluster bus, if
/// any, 10000 above it, TLS as well), with `files`' certificate, and
/// `extra` options.
fn start_tls_redis(files: &dc_tls::TlsFiles, extra: &[&str]) -> (Daemon, u16) {
    let port = free_port_pair();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().display().to_string();
    let mut args = throwaway_redis_args(0, &path);
    args.extend(
        [
            "--tls-port",
            &port.to_string(),
            "--tls-cert-file",
            &files.cert.display().to_string(),
            "--tls-key-file",
            &files.key.display().to_string(),
            "--tls-ca-cert-file",
            &files.ca.display().to_string(),
            "--tls-auth-clients",
            "no",
        ]
        .map(String::from),
    );
    args.extend(extra.iter().map(|a| a.replace("{dir}", &path)));
    let daemon = Daemon::start_program(&redis_server(), dir, &args, &tcp_address(port));
    (daemon, port)
}

/// redis-cli over TLS, trusting `ca`.
fn tls_cli(ca: &Path, args: &[&str]) -> String {
    let mut all = vec!["--tls", "--cacert", ca.to_str().expect("utf-8 path")];
    all.extend_from_slice(args);
    redis_cli(&all, b"")
}

#[test]
fn tls_to_a_cluster_is_checked_against_the_given_ca() {
    let _serial = serial();
    let dir = tempfile::tempdir().expect("tempdir");
    let (files, foreign) = tls_certs(dir.path());
    let cluster = [
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        "{dir}/nodes.conf",
        "--tls-cluster",
        "yes",
    ];
    let (_nodes, ports): (Vec<Daemon>, Vec<u16>) =
        (0..3).map(|_| start_tls_redis(&files, &cluster)).unzip();
    let members: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let mut create: Vec<&str> = vec!["--cluster", "create"];
    create.extend(members.iter().map(String::as_str));
    create.push("--cluster-yes");
    let out = tls_cli(&files.ca, &create);
    assert!(out.contains("[OK] All 16384 slots covered"), "{out}");
    until("cluster state ok", Duration::from_secs(20), || {
        ports.iter().all(|p| {
            tls_cli(&files.ca, &["-p", &p.to_string(), "cluster", "info"])
                .contains("cluster_state:ok")
        })
    });

    let url = format!("rediss+cluster://{}", members[..2].join(","));
    let ca_file = files.ca.display().to_string();
    let (dc, _) = spawn_dc_client(&url, &["-backend-tls-ca", &ca_file]);
    assert!(
        dc.wait_for_log(&format!("connected to {url}"), IO_TIMEOUT),
        "{}",
        dc.stderr()
    );
    // Enough sessions to reach every shard, each one through TLS.
    let mut c = client(&dc);
    const N: usize = 60;
    add_sessions(&mut c, N);
    for i in 0..N {
        let (id, data) = session(i);
        assert_eq!(c.get(&id).unwrap().as_deref(), Some(&data[..]), "{i}");
    }
    for p in &ports {
        let keys = tls_cli(&files.ca, &["-p", &p.to_string(), "dbsize"]);
        assert!(
            keys.trim().parse::<usize>().is_ok_and(|n| n > 0),
            "node :{p} holds {keys:?} keys"
        );
    }
    drop(c);
    drop(dc);

    // The nodes' certificates do not chain to this CA.
    refused_with(&url, &foreign, &format!("cannot connect to {url}"));
}

#[test]
fn tls_to_sentinels_and_their_master_is_checked_against_the_given_ca() {
    let _serial = serial();
    let dir = tempfile::tempdir().expect("tempdir");
    let (files, foreign) = tls_certs(dir.path());
    let (_master, pm) = start_tls_redis(&files, &[]);
    let sentinel_ports: Vec<u16> = (0..2).map(|_| free_port()).collect();
    let _sentinels: Vec<Daemon> = sentinel_ports
        .iter()
        .map(|&p| {
            let dir = tempfile::tempdir().expect("tempdir");
            let conf = sentinel_conf(dir.path(), p, pm, Some(&files));
            let args = [conf.display().to_string(), "--sentinel".to_string()];
            Daemon::start_program(&redis_server(), dir, &args, &tcp_address(p))
        })
        .collect();
    until(
        "the sentinels reach the master",
        Duration::from_secs(20),
        || {
            sentinel_ports.iter().all(|p| {
                let p = p.to_string();
                tls_cli(&files.ca, &["-p", &p, "sentinel", "master", "mymaster"])
                    .lines()
                    .any(|l| l.contains("master") && !l.contains("down"))
            })
        },
    );
    let url = format!(
        "rediss+sentinel://127.0.0.1:{},127.0.0.1:{}/mymaster",
        sentinel_ports[0], sentinel_ports[1]
    );
    let ca_file = files.ca.display().to_string();
    let (dc, resp_port) = spawn_dc_client(&url, &["-backend-tls-ca", &ca_file]);
    assert!(
        dc.wait_for_log("connected to rediss+sentinel://", IO_TIMEOUT),
        "{}",
        dc.stderr()
    );
    assert_eq!(resp(resp_port, SET).0, "+OK\r\n");
    assert_eq!(resp(resp_port, GET).0, "$1\r\n");
    // Written on the master the sentinels named, over TLS.
    let held = tls_cli(&files.ca, &["-p", &pm.to_string(), "get", "sess:probe"]);
    assert_eq!(held.trim(), "v", "{held}");
    drop(dc);

    // Neither the sentinels' nor the master's certificate chains to this CA.
    refused_with(&url, &foreign, "cannot connect to rediss+sentinel://");
}
