//! dc_client in front of a pool of real dc_servers (loopback TCP), with
//! local clients on a unix socket: keys spread by the ketama ring, replicas
//! that survive a `kill -9` under load, the share lost without replicas,
//! a restarted server used again at once, and the keys a fourth server
//! takes over.

use std::time::{Duration, Instant};

use dc_ctx::{Client, Options};
use dc_e2e::{free_port, run, tcp_address, Daemon, IO_TIMEOUT};
use nix::sys::signal::Signal;
use serde_json::Value;

/// dc_client's -timeout in these tests (its default).
const TIMEOUT: Duration = Duration::from_millis(1000);

/// dc_servers on free loopback ports, and one dc_client in front of them.
struct Pool {
    servers: Vec<Option<Daemon>>,
    addresses: Vec<String>,
    dc: Daemon,
}

fn start_server_at(address: &str) -> Daemon {
    let args = vec!["-listen".to_string(), address.to_string()];
    let mut server = Daemon::start("dc_server", &args, address);
    assert!(server.is_running(), "dc_server exited: {}", server.stderr());
    server
}

fn start_dc_client(servers: &[String], extra: &[&str]) -> Daemon {
    let dir = tempfile::tempdir().expect("tempdir");
    let address = format!("UNIX:{}", dir.path().join("dc_client.sock").display());
    let mut args = vec!["-listen".to_string(), address.clone()];
    for server in servers {
        args.extend(["-server".to_string(), server.clone()]);
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    let dc = Daemon::start_in(dir, "dc_client", &args, &address);
    for server in servers {
        let line = format!("connected to {server}");
        assert!(
            dc.wait_for_log(&line, IO_TIMEOUT),
            "dc_client did not connect to {server}:\n{}",
            dc.stderr()
        );
    }
    dc
}

impl Pool {
    fn start(n: usize, replicas: usize) -> Pool {
        let addresses: Vec<String> = (0..n).map(|_| tcp_address(free_port())).collect();
        let servers = addresses.iter().map(|a| Some(start_server_at(a))).collect();
        let r = replicas.to_string();
        let dc = start_dc_client(&addresses, &["-replicas", &r]);
        Pool {
            servers,
            addresses,
            dc,
        }
    }

    fn client(&self) -> Client {
        Client::new(&self.dc.address.parse().unwrap(), Options::persistent()).unwrap()
    }

    fn kill(&mut self, index: usize) {
        if let Some(server) = self.servers[index].take() {
            server.signal(Signal::SIGKILL);
        }
    }
}

fn session(i: usize) -> (Vec<u8>, Vec<u8>) {
    let id = format!("pool-session-{i:05}").into_bytes();
    let data = format!("data of session {i} ").repeat(8).into_bytes();
    (id, data)
}

fn store_sessions(c: &mut Client, n: usize) {
    for i in 0..n {
        let (id, data) = session(i);
        c.add(&id, &data, 600_000).unwrap();
    }
}

/// Reads every stored session back; returns how many missed, and fails on
/// wrong data or on an answer slower than the timeout.
fn count_misses(c: &mut Client, n: usize) -> usize {
    let mut misses = 0;
    for i in 0..n {
        let (id, data) = session(i);
        let started = Instant::now();
        match c.get(&id).unwrap() {
            Some(got) => assert_eq!(got, data, "session {i}"),
            None => misses += 1,
        }
        assert!(
            started.elapsed() < TIMEOUT,
            "a GET took {:?}",
            started.elapsed()
        );
    }
    misses
}

/// dc_test's load mode through dc_client for `seconds`, every answer
/// checked; its JSON summary.
fn load(dc: &str, seconds: &str, extra: &[&str]) -> Value {
    let mut args = vec![
        "-connect",
        dc,
        "--load",
        "--conns",
        "4",
        "--depth",
        "4",
        "--duration",
        seconds,
        "--ids",
        "2000",
        "--prefill",
        "--json",
    ];
    args.extend_from_slice(extra);
    let out = run("dc_test", &args, Duration::from_secs(60));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "dc_test {args:?} failed:\n{stderr}");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"))
}

/// Waits until dc_client logs its reconnect to `server`, polling every
/// millisecond; returns when it saw the line.
fn wait_reconnected(dc: &Daemon, server: &str) -> Instant {
    let line = format!("connected to {server} again");
    let deadline = Instant::now() + IO_TIMEOUT;
    while Instant::now() < deadline {
        if dc.stderr().contains(&line) {
            return Instant::now();
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    panic!("dc_client did not reconnect to {server}:\n{}", dc.stderr());
}

/// How many of the first `n` sessions `server` holds itself.
fn held_by(server: &str, n: usize) -> usize {
    let mut c = Client::new(&server.parse().unwrap(), Options::persistent()).unwrap();
    (0..n).filter(|&i| c.has(&session(i).0).unwrap()).count()
}

#[test]
fn with_two_replicas_a_server_killed_under_load_loses_nothing_and_rejoins_at_once() {
    const N: usize = 300;
    for victim in 0..3 {
        let mut pool = Pool::start(3, 2);
        store_sessions(&mut pool.client(), N);
        // Each session is on two of the three servers.
        let held: usize = pool.addresses.iter().map(|a| held_by(a, N)).sum();
        assert_eq!(held, 2 * N);
        let dc = pool.dc.address.clone();
        let summary = std::thread::scope(|s| {
            let load = s.spawn(|| load(&dc, "2.5", &[]));
            // Mid-run: dc_test prefills, then loads for 2.5 s.
            std::thread::sleep(Duration::from_millis(1200));
            pool.kill(victim);
            load.join().unwrap()
        });
        assert_eq!(summary["errors"], 0, "server {victim} killed: {summary}");
        let worst = Duration::from_micros(summary["latency_us"]["max"].as_u64().unwrap());
        assert!(worst < TIMEOUT, "a request waited {worst:?}");
        assert_eq!(
            count_misses(&mut pool.client(), N),
            0,
            "server {victim} killed"
        );
        eprintln!(
            "replicas 2, server {victim} killed: {} ops, 0 errors, worst {worst:?}",
            summary["ops"]
        );

        // Back on its address, empty: dc_client uses it again at once.
        let address = pool.addresses[victim].clone();
        pool.servers[victim] = Some(start_server_at(&address));
        let listening = Instant::now();
        let rejoined = wait_reconnected(&pool.dc, &address) - listening;
        eprintln!("server {victim} used again {rejoined:?} after it listened");
        assert!(rejoined <= Duration::from_millis(100), "{rejoined:?}");
        // New sessions land on it again; old ones are still served.
        let mut c = pool.client();
        for i in N..2 * N {
            let (id, data) = session(i);
            c.add(&id, &data, 600_000).unwrap();
        }
        let mut direct = Client::new(&address.parse().unwrap(), Options::persistent()).unwrap();
        let fresh = (N..2 * N)
            .filter(|&i| direct.has(&session(i).0).unwrap())
            .count();
        assert!(
            fresh > N / 3,
            "only {fresh} of {N} new sessions on the rejoined server"
        );
        assert_eq!(count_misses(&mut c, 2 * N), 0);
    }
}

#[test]
fn with_one_replica_a_killed_server_loses_about_a_third_and_nothing_waits() {
    const N: usize = 900;
    let mut pool = Pool::start(3, 1);
    let mut c = pool.client();
    store_sessions(&mut c, N);
    let on_victim = held_by(&pool.addresses[1], N);
    pool.kill(1);
    let misses = count_misses(&mut c, N);
    let share = misses as f64 / N as f64;
    eprintln!("replicas 1, one of 3 servers killed: {misses} of {N} sessions lost ({share:.3})");
    assert_eq!(misses, on_victim, "exactly the dead server's sessions");
    assert!((0.2..0.47).contains(&share), "{share}");
    // dc_test through the pool meanwhile: misses are tolerated (the lost
    // share), wrong data and waits are not.
    let summary = load(&pool.dc.address, "1", &["--allow-evictions"]);
    assert_eq!(summary["errors"], 0, "{summary}");
    let worst = Duration::from_micros(summary["latency_us"]["max"].as_u64().unwrap());
    assert!(worst < TIMEOUT, "a request waited {worst:?}");
}

#[test]
fn a_fourth_server_takes_about_a_quarter_of_the_keys() {
    const N: usize = 1200;
    let pool = Pool::start(3, 1);
    store_sessions(&mut pool.client(), N);
    // A second node's dc_client, configured with a fourth (empty) server:
    // the sessions it misses are exactly those the ring moved to it.
    let fourth = tcp_address(free_port());
    let _server = start_server_at(&fourth);
    let mut servers = pool.addresses.clone();
    servers.push(fourth.clone());
    let dc4 = start_dc_client(&servers, &[]);
    let mut c4 = Client::new(&dc4.address.parse().unwrap(), Options::persistent()).unwrap();
    let moved = count_misses(&mut c4, N);
    let share = moved as f64 / N as f64;
    eprintln!("adding a 4th server to 3 moved {moved} of {N} keys ({share:.3})");
    assert!((0.15..0.35).contains(&share), "{share}");
    // The moved keys are stored on the new server from now on.
    for i in 0..N {
        let (id, data) = session(i);
        if c4.get(&id).unwrap().is_none() {
            c4.add(&id, &data, 600_000).unwrap();
        }
    }
    assert_eq!(held_by(&fourth, N), moved);
}
