//! dc_test's load mode end to end: against the real dc_server (every
//! answer must check out), and against a fake server that corrupts the
//! sessions it returns (the run must fail). With `-proto`, against
//! dc_server's RESP and memcache front doors and against a real
//! redis-server and memcached (taken from the PATH; those tests fail, with
//! a line saying what to install, when the program is missing: .ci/run
//! installs both).
//!
//! The dc_server binary is taken from beside dc_test's own. `cargo test
//! --workspace` builds it; when only this package's tests are run and it is
//! missing, the test builds it with `cargo build -p dc_server` first. (As
//! with the other end-to-end tests, a stale dc_server is not rebuilt: run
//! `cargo build --workspace` after changing the server.)

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dc_protocol::{Decoder, Kind, Request, Response, Status};

/// Bound on waiting for a server to listen.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// Runs dc_test with a command line written as one string.
fn dc_test_line(line: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dc_test"))
        .args(line.split_whitespace())
        .output()
        .expect("dc_test runs")
}

/// dc_server from the same build as dc_test, built if missing.
fn dc_server_binary() -> PathBuf {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_dc_test"))
        .parent()
        .expect("dc_test lives in a directory");
    let server = bin_dir.join("dc_server");
    if !server.exists() {
        let target_dir = bin_dir.parent().expect("a target directory");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        build.args(["build", "-q", "-p", "dc_server", "--target-dir"]);
        build.arg(target_dir);
        if bin_dir.file_name().is_some_and(|n| n == "release") {
            build.arg("--release");
        }
        let status = build.status().expect("cargo runs");
        assert!(status.success(), "cargo build -p dc_server failed");
    }
    server
}

/// A dc_server on a free loopback port, killed on drop.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start() -> Server {
        Server::start_with(&[]).0
    }

    /// dc_server with its distcache listener and one more listener per
    /// option in `doors` (`-listen-redis`, `-listen-memcache`), each on a
    /// free port; returns those ports in the same order.
    fn start_with(doors: &[&str]) -> (Server, Vec<u16>) {
        let binary = dc_server_binary();
        // The ports were free when picked; if the server cannot bind one
        // because someone took it meanwhile, try others.
        for _ in 0..5 {
            let port = free_port();
            let extra: Vec<u16> = doors.iter().map(|_| free_port()).collect();
            let mut args = vec!["-listen".to_string(), format!("IP:127.0.0.1:{port}")];
            for (door, p) in doors.iter().zip(&extra) {
                args.push(door.to_string());
                args.push(format!("IP:127.0.0.1:{p}"));
            }
            let mut child = Command::new(&binary)
                .args(&args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("dc_server starts");
            if std::iter::once(port)
                .chain(extra.iter().copied())
                .all(|p| wait_listening(p, &mut child))
            {
                return (Server { child, port }, extra);
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("dc_server did not start listening");
    }

    fn address(&self) -> String {
        format!("IP:127.0.0.1:{}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Connects until the server answers, it exits, or the deadline passes.
fn wait_listening(port: u16, child: &mut Child) -> bool {
    let deadline = Instant::now() + READY_TIMEOUT;
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
            return true;
        }
        if matches!(child.try_wait(), Ok(Some(_))) {
            return false;
        }
        // Refused: not listening yet. Poll again shortly.
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

fn json(out: &Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON object ({e}): {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[test]
fn load_against_dc_server_checks_out() {
    let server = Server::start();
    let connect = format!("-connect {}", server.address());

    // Pipelined, several connections on two threads, prefilled.
    let out = dc_test_line(&format!(
        "{connect} -conns 4 -depth 8 -threads 2 -ids 2000 -ops 4000 -prefill -json"
    ));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let result = json(&out);
    assert_eq!(result["errors"], 0, "{stderr}");
    assert_eq!(result["ops"], 4000);
    assert_eq!(result["prefilled"], 2000);
    assert!(result["answers"]["hits"].as_u64().unwrap() > 0, "{result}");
    assert!(result["latency_us"]["p50"].as_u64().unwrap() > 0);
    assert!(stderr.contains("Info, load: 4000 ops in "), "{stderr}");

    // Short lifetimes: sessions expire during the run and the model must
    // accept the server's answers around each deadline. Sessions up to
    // 6000 bytes: answers of several frames, reassembled.
    let out = dc_test_line(&format!(
        "{connect} -conns 2 -depth 4 -ids 20 -ttl-ms 30 -data-min 24 -data-max 6000 \
         -ops 3000 -mix add=4,get=4,remove=1,have=2"
    ));
    let line = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        line.starts_with("Info, load: 3000 ops in ") && line.contains(" 0 errors;"),
        "{line}"
    );

    // Paced: 400 requests a second over two connections for one second.
    // Unpaced, this server answers thousands in that time; paced, no more
    // than the schedule's 400 (plus each connection's first) may go out,
    // and nearly all of them do since the server keeps up easily.
    let out = dc_test_line(&format!(
        "{connect} -conns 2 -rate 400 -duration 1 -ids 200 -prefill -json"
    ));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let result = json(&out);
    let ops = result["ops"].as_u64().unwrap();
    assert!(
        (300..=402).contains(&ops),
        "{ops} ops at -rate 400 for 1 s: {stderr}"
    );
    assert_eq!(result["rate"], 400.0);
    assert!(stderr.contains("at 400 ops/s"), "{stderr}");

    // One connection per operation.
    let out = dc_test_line(&format!(
        "{connect} -new-conn-per-op -conns 2 -ops 300 -json"
    ));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(json(&out)["errors"], 0);
}

/// Answers every request like a cache would, except that GET hits come
/// back with one byte flipped.
fn corrupting_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    let store: Arc<Mutex<HashMap<Vec<u8>, Vec<u8>>>> = Arc::default();
    // The threads end when their client closes; the accept loop is left
    // blocked when the test ends, which ends the process.
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let store = Arc::clone(&store);
            std::thread::spawn(move || serve_corrupting(stream, &store));
        }
    });
    port
}

fn serve_corrupting(mut stream: TcpStream, store: &Mutex<HashMap<Vec<u8>, Vec<u8>>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut decoder = Decoder::new(Kind::Request);
    let mut input = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let mut answers = Vec::new();
        loop {
            let Ok(decoded) = decoder.decode(&input) else {
                return;
            };
            let consumed = decoded.consumed;
            let Some(command) = decoded.command else {
                input.drain(..consumed);
                break;
            };
            let mut store = store.lock().unwrap();
            let reply: Vec<u8> = match Request::parse(command.operation, command.payload) {
                Ok(Request::Add { id, data, .. }) => {
                    if store.contains_key(id) {
                        vec![Status::AddMatchingSession.code()]
                    } else {
                        store.insert(id.to_vec(), data.to_vec());
                        vec![Status::Ok.code()]
                    }
                }
                Ok(Request::Get { id }) => match store.get(id) {
                    Some(data) => {
                        let mut bad = data.clone();
                        let last = bad.len() - 1;
                        bad[last] ^= 0x20;
                        bad
                    }
                    None => vec![Status::NotOk.code()],
                },
                Ok(Request::Remove { id }) => vec![u8::from(store.remove(id).is_none())],
                Ok(Request::Have { id }) => vec![u8::from(!store.contains_key(id))],
                Err(_) => return,
            };
            drop(store);
            let answer = match reply.len() {
                1 => Response::Status(reply[0]),
                _ => Response::Session(&reply),
            };
            answer
                .encode(&mut answers, command.request_uid, command.operation)
                .unwrap();
            input.drain(..consumed);
        }
        if !answers.is_empty() && stream.write_all(&answers).is_err() {
            return;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => input.extend_from_slice(&chunk[..n]),
        }
    }
}

#[test]
fn a_server_returning_corrupt_sessions_fails_the_run() {
    let port = corrupting_server();
    let out = dc_test_line(&format!(
        "-connect IP:127.0.0.1:{port} -conns 2 -depth 4 -ids 50 -ops 500 -prefill -mix get=1"
    ));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("Error, connection ") && stderr.contains("GET of id #"),
        "{stderr}"
    );
    assert!(stderr.contains("corrupt"), "{stderr}");
    assert!(
        stderr.contains(" errors (wrong answers or failed connections)"),
        "{stderr}"
    );
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(summary.starts_with("Info, load: 500 ops in "), "{summary}");
    assert!(!summary.contains(" 0 errors;"), "{summary}");
}

#[test]
fn nobody_listening_is_one_clear_error() {
    let port = free_port();
    let out = dc_test_line(&format!("-connect IP:127.0.0.1:{port} -load"));
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Error, cannot connect to"), "{stderr}");
}

/// Whether `program` is on the PATH.
fn installed(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program} >/dev/null")])
        .status()
        .is_ok_and(|s| s.success())
}

/// A peer server (redis-server, memcached) on a free loopback port, killed
/// on drop. Fails the test when the program is not installed: a test that
/// skips proves nothing.
fn start_peer(program: &str, args: impl Fn(u16) -> Vec<String>) -> Option<Server> {
    assert!(
        installed(program),
        "{program} is not installed: install it (Debian: apt-get install redis-server memcached; .ci/run does)"
    );
    for _ in 0..5 {
        let port = free_port();
        let mut child = Command::new(program)
            .args(args(port))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the peer server starts");
        if wait_listening(port, &mut child) {
            return Some(Server { child, port });
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("{program} did not start listening");
}

fn redis_server() -> Option<Server> {
    start_peer("redis-server", |port| {
        [
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        .map(String::from)
        .to_vec()
    })
}

fn memcached() -> Option<Server> {
    // memcached will not run as root without being told which user to be.
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    start_peer("memcached", move |port| {
        let mut args: Vec<String> = ["-l", "127.0.0.1", "-p", &port.to_string(), "-U", "0"]
            .map(String::from)
            .to_vec();
        args.extend(["-t", "1", "-m", "64"].map(String::from));
        if root {
            args.extend(["-u", "root"].map(String::from));
        }
        args
    })
}

/// Runs dc_test and asserts it succeeded without a wrong answer; returns
/// the JSON result.
fn load_checks_out(line: &str) -> serde_json::Value {
    let out = dc_test_line(&format!("{line} -json"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "dc_test {line}: {stderr}");
    let result = json(&out);
    assert_eq!(result["errors"], 0, "dc_test {line}: {stderr}");
    assert_eq!(result["unanswered"], 0, "{stderr}");
    result
}

/// The load mode over `proto` against `address`: pipelined on two
/// threads with a prefill, large sessions (replies spread over several
/// reads), and one connection per operation. Every answer must check out.
fn load_over(proto: &str, address: &str) {
    let connect = format!("-connect {address} -proto {proto}");
    let result = load_checks_out(&format!(
        "{connect} -conns 4 -depth 8 -threads 2 -ids 2000 -ops 4000 -duration 20 -prefill"
    ));
    assert_eq!(result["proto"], proto);
    assert_eq!(result["ops"], 4000, "{result}");
    assert_eq!(result["prefilled"], 2000);
    let answers = &result["answers"];
    for kind in [
        "stored",
        "duplicate",
        "hits",
        "misses",
        "found",
        "not_found",
    ] {
        assert!(answers[kind].as_u64().unwrap() > 0, "no {kind}: {result}");
    }
    let result = load_checks_out(&format!(
        "{connect} -conns 2 -depth 16 -ids 40 -data-min 24 -data-max 20000 -duration 0.5 \
         -mix add=4,get=4,remove=1"
    ));
    assert!(result["answers"]["hits"].as_u64().unwrap() > 0, "{result}");
    let result = load_checks_out(&format!(
        "{connect} -new-conn-per-op -conns 2 -ops 300 -duration 20 -prefill -ids 100"
    ));
    assert_eq!(result["ops"], 300, "{result}");
}

#[test]
fn load_over_dc_server_front_doors_checks_out() {
    let (server, ports) = Server::start_with(&["-listen-redis", "-listen-memcache"]);
    let (redis, memcache) = (ports[0], ports[1]);
    load_over("redis", &format!("IP:127.0.0.1:{redis}"));
    load_over("memcache", &format!("IP:127.0.0.1:{memcache}"));
    load_over("memcache-binary", &format!("IP:127.0.0.1:{memcache}"));
    // HAVE goes out as EXISTS over RESP.
    load_checks_out(&format!(
        "-connect IP:127.0.0.1:{redis} -proto redis -conns 2 -depth 4 -ids 100 -ops 1000 \
         -duration 20 -mix add=3,get=3,remove=1,have=3"
    ));
    // Lifetimes: milliseconds over RESP, whole seconds over memcache.
    load_checks_out(&format!(
        "-connect IP:127.0.0.1:{redis} -proto redis -conns 2 -depth 4 -ids 20 -ttl-ms 30 \
         -duration 1 -mix add=4,get=4,remove=1"
    ));
    load_checks_out(&format!(
        "-connect IP:127.0.0.1:{memcache} -proto memcache -conns 2 -depth 4 -ids 20 \
         -ttl-ms 1000 -duration 2.5 -mix add=4,get=4,remove=1"
    ));
    drop(server);
}

#[test]
fn load_over_redis_server_checks_out() {
    let Some(redis) = redis_server() else {
        return;
    };
    load_over("redis", &redis.address());
    load_checks_out(&format!(
        "-connect {} -proto redis -conns 2 -depth 4 -ids 20 -ttl-ms 30 -duration 1 \
         -mix add=4,get=4,remove=1,have=1",
        redis.address()
    ));
}

#[test]
fn load_over_memcached_checks_out() {
    let Some(memcached) = memcached() else {
        return;
    };
    load_over("memcache", &memcached.address());
    load_over("memcache-binary", &memcached.address());
    load_checks_out(&format!(
        "-connect {} -proto memcache-binary -conns 2 -depth 4 -ids 20 -ttl-ms 1000 \
         -duration 2.5 -mix add=4,get=4,remove=1",
        memcached.address()
    ));
}

#[test]
fn proto_mistakes_are_one_clear_error() {
    let port = free_port();
    let run = |extra: &str| {
        let out = dc_test_line(&format!("-connect IP:127.0.0.1:{port} -ops 10 {extra}"));
        assert_eq!(out.status.code(), Some(1), "{extra}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let stderr = run("-proto gopher");
    assert!(
        stderr.contains("\"gopher\"") && stderr.contains("memcache-binary"),
        "{stderr}"
    );
    let stderr = run("-proto memcache -mix get=1,have=1");
    assert!(stderr.contains("cannot send HAVE"), "{stderr}");
    let stderr = run("-proto memcache-binary -ttl-ms 1500");
    assert!(stderr.contains("whole seconds"), "{stderr}");
}

/// A PNG's width and height, from its IHDR chunk.
fn png_size(png: &[u8]) -> (u32, u32) {
    assert!(
        png.len() > 24 && png.starts_with(b"\x89PNG\r\n\x1a\n") && &png[12..16] == b"IHDR",
        "not a PNG"
    );
    let word = |at: usize| u32::from_be_bytes([png[at], png[at + 1], png[at + 2], png[at + 3]]);
    (word(16), word(20))
}

#[test]
fn plot_draws_the_run_and_it_renders() {
    let server = Server::start();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let svg_path = dir.path().join("run.svg");
    let out = dc_test_line(&format!(
        "-connect {} -conns 4 -depth 4 -ids 2000 -duration 2 -prefill -plot {}",
        server.address(),
        svg_path.display()
    ));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "Info, load: chart written to {}",
            svg_path.display()
        )),
        "{stderr}"
    );
    let svg = std::fs::read_to_string(&svg_path).expect("the chart was written");
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    let texts = dc_chart::svg::texts(&svg);
    let title = format!(
        "dc_test load: distcache to {}, 4 conns × 4 in flight",
        server.address()
    );
    for text in [
        title.as_str(),
        "Throughput, per 33.3 ms slice",
        "Latency per slice: p50, p99, p99.9 (log scale)",
        "Latency distribution over the whole run (log scale)",
        "p50",
        "p99",
        "p99.9",
        "99%",
    ] {
        assert!(texts.iter().any(|t| t == text), "{text:?} not in {texts:?}");
    }
    let workload = &texts[1];
    assert!(
        workload.starts_with("mix add=20,get=70,remove=10,have=0; 2000 ids of 32 bytes"),
        "{workload}"
    );
    let measured = &texts[2];
    assert!(
        measured.contains(" ops in 2.0 s: ") && measured.ends_with("; 0 errors"),
        "{measured}"
    );
    assert!(!texts.iter().any(|t| t == "no operations answered"));
    // Every series has points: a polyline in its colour with many of them.
    for colour in ["#1F77B4", "#2CA02C", "#FF7F0E", "#D62728"] {
        let line = svg
            .split("<polyline")
            .skip(1)
            .find(|l| l.contains(&format!("stroke=\"{colour}\"")) && l.contains("points="))
            .unwrap_or_else(|| panic!("no line in {colour}"));
        let points = line.split("points=\"").nth(1).unwrap_or("");
        let points = points[..points.find('"').unwrap_or(0)]
            .split_whitespace()
            .count();
        assert!(points >= 30, "{colour}: {points} points");
    }

    // And it renders: rsvg-convert (Debian librsvg2-bin) makes a PNG of it.
    assert!(
        installed("rsvg-convert"),
        "rsvg-convert is not installed: install it (Debian: apt-get install librsvg2-bin; .ci/run does)"
    );
    let png_path = dir.path().join("run.png");
    let rendered = Command::new("rsvg-convert")
        .arg(&svg_path)
        .arg("-o")
        .arg(&png_path)
        .output()
        .expect("rsvg-convert runs");
    assert!(
        rendered.status.success(),
        "rsvg-convert: {}",
        String::from_utf8_lossy(&rendered.stderr)
    );
    let png = std::fs::read(&png_path).expect("rsvg-convert wrote the PNG");
    assert_eq!(png_size(&png), (1100, 1200));
    // Three panels of lines and text, not a blank page (which compresses
    // to a few kilobytes).
    assert!(png.len() > 40_000, "{} bytes", png.len());
}

#[test]
fn an_unwritable_plot_fails_before_the_run() {
    // Nobody listens there either: the chart's error comes first, before
    // any connection is tried.
    let port = free_port();
    let out = dc_test_line(&format!(
        "-connect IP:127.0.0.1:{port} -load -plot /nonexistent/dir/run.svg"
    ));
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.trim(),
        "Error, cannot write the chart to \"/nonexistent/dir/run.svg\": No such file or directory (os error 2)"
    );
    let out = dc_test_line(&format!("-connect IP:127.0.0.1:{port} -plot run.png"));
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--plot \"run.png\": the chart is written as SVG"),
        "{stderr}"
    );
    assert!(!Path::new("run.png").exists());
}
