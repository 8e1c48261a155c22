//! Faults under load: dc_test drives dc_client, which carries the requests
//! through a fault-injecting relay to dc_server, while the test breaks
//! things in a seeded random order:
//!
//! - SIGSTOP the server, then SIGCONT it;
//! - stop it cleanly (SIGTERM) and start it again on its `-snapshot`;
//! - cut the link (FIN), reset it (RST), stall it, refuse reconnects;
//! - flood the server with idle connections past its connection cap.
//!
//! At the end: dc_test saw no wrong answer (`--allow-outages` lets
//! DISCONNECTED through and nothing else); no request waited longer than
//! dc_client's `-timeout` plus [`WAIT_MARGIN`]; every process is alive; and
//! the marker sessions stored before the first clean restart are all still
//! there.
//!
//! The short run is part of `cargo test`. The long one:
//! `DC_FAULT_SECS=300 cargo test -p dc_e2e --test faults -- --ignored`
//! (`DC_FAULT_SEED=N` repeats a run's order of faults).

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use dc_ctx::{Client, Mode as CtxMode, Options};
use dc_e2e::relay::{Mode, Relay};
use dc_e2e::{bin, free_port, tcp_address, Daemon};
use nal::Address;
use nix::sys::signal::Signal;

/// dc_client's `-timeout`: how long a request may wait on a silent server.
const CLIENT_TIMEOUT_MS: u64 = 300;
/// What a request may wait beyond `-timeout`: dc_client's timer tick and
/// scheduling on a loaded two-core machine.
const WAIT_MARGIN: Duration = Duration::from_millis(200);
/// Sessions stored before the faults begin, checked at the end.
const MARKERS: usize = 200;
/// The server's connection cap, which the flood fills.
const MAX_CONNECTIONS: usize = 64;
const FLOOD: usize = 2 * MAX_CONNECTIONS;

#[test]
fn faults_under_load_short() {
    run(FaultRun::from_env(Duration::from_secs(20)));
}

#[test]
#[ignore = "long soak: DC_FAULT_SECS=300 cargo test -p dc_e2e --test faults -- --ignored"]
fn faults_under_load_long() {
    run(FaultRun::from_env(Duration::from_secs(300)));
}

struct FaultRun {
    seed: u64,
    duration: Duration,
}

impl FaultRun {
    fn from_env(default: Duration) -> FaultRun {
        let number = |name: &str| {
            std::env::var(name).ok().map(|v| {
                v.parse::<u64>()
                    .unwrap_or_else(|e| panic!("{name}={v:?}: {e}"))
            })
        };
        FaultRun {
            seed: number("DC_FAULT_SEED").unwrap_or(0x5eed_fa17),
            duration: number("DC_FAULT_SECS").map_or(default, Duration::from_secs),
        }
    }
}

/// The faults, drawn in a seeded order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    Stop,
    Restart,
    Cut,
    Reset,
    Stall,
    Refuse,
    Flood,
}

const FAULTS: [Fault; 7] = [
    Fault::Stop,
    Fault::Restart,
    Fault::Cut,
    Fault::Reset,
    Fault::Stall,
    Fault::Refuse,
    Fault::Flood,
];

/// SplitMix64: enough randomness for an order of faults, repeatable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn millis(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.below(hi - lo + 1))
    }
}

/// dc_server on a fixed port with a snapshot file, restartable.
struct CacheServer {
    port: u16,
    snapshot: PathBuf,
    daemon: Option<Daemon>,
    starts: usize,
}

impl CacheServer {
    fn start(dir: &Path) -> CacheServer {
        let mut server = CacheServer {
            port: free_port(),
            snapshot: dir.join("sessions.snapshot"),
            daemon: None,
            starts: 0,
        };
        server.launch();
        server
    }

    fn launch(&mut self) {
        let address = tcp_address(self.port);
        let args: Vec<String> = [
            "-listen",
            &address,
            "-snapshot",
            &self.snapshot.display().to_string(),
            "-max-connections",
            &MAX_CONNECTIONS.to_string(),
        ]
        .map(String::from)
        .to_vec();
        self.daemon = Some(Daemon::start("dc_server", &args, &address));
        self.starts += 1;
    }

    fn daemon(&mut self) -> &mut Daemon {
        self.daemon.as_mut().expect("the server is running")
    }

    /// A clean stop (the snapshot is written) and a start on it.
    fn restart(&mut self) {
        let daemon = self.daemon();
        daemon.signal(Signal::SIGTERM);
        let status = daemon.wait_exit(Duration::from_secs(20));
        let stderr = daemon.stderr();
        assert!(
            status.is_some_and(|s| s.success()),
            "dc_server did not stop cleanly ({status:?}); stderr:\n{stderr}"
        );
        self.launch();
    }

    fn socket_address(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }
}

fn marker_id(i: usize) -> Vec<u8> {
    format!("fault-marker-{i:04}").into_bytes()
}

fn marker_data(i: usize) -> Vec<u8> {
    format!("marker session {i} stored before the first clean restart").into_bytes()
}

fn client_for(address: &str) -> Client {
    let address: Address = address.parse().expect("dc_client's address");
    let options = Options {
        mode: CtxMode::Persistent,
        io_timeout: Some(Duration::from_secs(5)),
        ..Options::default()
    };
    Client::new(&address, options).expect("connect to dc_client")
}

/// Waits until a GET through dc_client is answered by the server (not
/// DISCONNECTED), so that the run starts and ends with a working path.
fn wait_for_path(client: &mut Client) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while client.get(b"fault-probe").is_err() {
        assert!(
            Instant::now() < deadline,
            "dc_client never reached the server"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

fn run(plan: FaultRun) {
    eprintln!(
        "faults: seed {:#x}, {} s (DC_FAULT_SEED, DC_FAULT_SECS)",
        plan.seed,
        plan.duration.as_secs()
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = CacheServer::start(dir.path());
    let relay = Relay::start(server.socket_address()).expect("relay");
    let client_dir = tempfile::tempdir().expect("tempdir");
    let client_address = format!("UNIX:{}", client_dir.path().join("dc.sock").display());
    let client_args: Vec<String> = [
        "-listen",
        &client_address,
        "-server",
        &relay.nal_address(),
        "-timeout",
        &CLIENT_TIMEOUT_MS.to_string(),
        "-retry",
        "100",
    ]
    .map(String::from)
    .to_vec();
    let mut client = Daemon::start_in(client_dir, "dc_client", &client_args, &client_address);

    // The markers go in before any fault.
    let mut markers = client_for(&client_address);
    wait_for_path(&mut markers);
    for i in 0..MARKERS {
        markers
            .add(&marker_id(i), &marker_data(i), 3_600_000)
            .unwrap_or_else(|e| panic!("storing marker {i}: {e}"));
    }

    let load_secs = plan.duration.as_secs_f64();
    let load = Command::new(bin("dc_test"))
        .args([
            "-connect",
            &client_address,
            "-conns",
            "4",
            "-depth",
            "4",
            "-ids",
            "4000",
            "-ttl-ms",
            "3600000",
            "-duration",
            &format!("{load_secs}"),
            "-allow-outages",
            "-json",
            "-seed",
            &plan.seed.to_string(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start dc_test");

    let mut rng = Rng(plan.seed);
    let mut done: Vec<Fault> = Vec::new();
    let started = Instant::now();
    // Leave the last second or two fault-free, so the run ends healthy.
    let faults_until = plan.duration.saturating_sub(Duration::from_secs(2));
    // The first fault is a clean restart: the markers must survive it.
    let mut next = Some(Fault::Restart);
    while started.elapsed() < faults_until {
        thread::sleep(rng.millis(200, 700));
        let fault = next
            .take()
            .unwrap_or_else(|| FAULTS[rng.below(FAULTS.len() as u64) as usize]);
        let hold = rng.millis(50, 600);
        eprintln!(
            "faults: {:>6} ms {fault:?} for {} ms",
            started.elapsed().as_millis(),
            hold.as_millis()
        );
        inject(fault, hold, &mut server, &relay);
        done.push(fault);
    }

    let output = dc_e2e::wait_output(
        load,
        "dc_test",
        b"",
        plan.duration + Duration::from_secs(30),
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("faults: {} injected: {done:?}", done.len());
    eprintln!("faults: dc_test: {stderr}{stdout}");
    assert!(
        output.status.success(),
        "dc_test failed: {stdout}\n{stderr}"
    );
    let summary: serde_json::Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("dc_test's JSON ({e}): {stdout}"));
    assert_eq!(summary["errors"], 0, "wrong answers: {summary}");
    let max_us = summary["latency_us"]["max"].as_u64().expect("max latency");
    let bound = Duration::from_millis(CLIENT_TIMEOUT_MS) + WAIT_MARGIN;
    assert!(
        Duration::from_micros(max_us) <= bound,
        "a request waited {max_us} us, more than -timeout {CLIENT_TIMEOUT_MS} ms + {WAIT_MARGIN:?}: {summary}"
    );
    let answers = &summary["answers"];
    let unavailable = answers["unavailable"].as_u64().unwrap_or(0);
    let ops = summary["ops"].as_u64().unwrap_or(0);
    eprintln!(
        "faults: {ops} ops, {unavailable} answered unavailable, {} hits, max wait {max_us} us, relay: {} connections, {} broken, {} refused; server started {} times",
        answers["hits"],
        relay.stats().accepted.load(std::sync::atomic::Ordering::Relaxed),
        relay.stats().broken.load(std::sync::atomic::Ordering::Relaxed),
        relay.stats().refused.load(std::sync::atomic::Ordering::Relaxed),
        server.starts,
    );
    assert!(
        ops > unavailable,
        "no request was answered by the server: {summary}"
    );

    assert!(
        server.daemon().is_running(),
        "dc_server died: {}",
        server.daemon().stderr()
    );
    assert!(client.is_running(), "dc_client died: {}", client.stderr());
    assert!(
        done.contains(&Fault::Restart),
        "no clean restart was tested"
    );

    wait_for_path(&mut markers);
    for i in 0..MARKERS {
        let got = markers
            .get(&marker_id(i))
            .unwrap_or_else(|e| panic!("reading marker {i}: {e}"));
        assert_eq!(
            got.as_deref(),
            Some(&marker_data(i)[..]),
            "marker {i} after the restarts"
        );
    }
}

fn inject(fault: Fault, hold: Duration, server: &mut CacheServer, relay: &Relay) {
    match fault {
        Fault::Stop => {
            server.daemon().signal(Signal::SIGSTOP);
            thread::sleep(hold);
            server.daemon().signal(Signal::SIGCONT);
        }
        Fault::Restart => server.restart(),
        Fault::Cut => relay.cut(),
        Fault::Reset => relay.reset(),
        Fault::Stall => {
            relay.set_mode(Mode::Stall);
            thread::sleep(hold);
            relay.set_mode(Mode::Pass);
        }
        Fault::Refuse => {
            relay.set_mode(Mode::Refuse);
            relay.cut();
            thread::sleep(hold);
            relay.set_mode(Mode::Pass);
        }
        Fault::Flood => {
            let target = server.socket_address();
            let flood: Vec<TcpStream> = (0..FLOOD)
                .filter_map(|_| TcpStream::connect_timeout(&target, Duration::from_secs(1)).ok())
                .collect();
            thread::sleep(hold);
            drop(flood);
        }
    }
}
