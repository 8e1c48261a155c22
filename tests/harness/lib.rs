//! Harness for the end-to-end tests: start the real binaries on loopback
//! TCP or on unix sockets in a temporary directory, talk to them with plain
//! blocking sockets, and clean up every process when a test ends (even when
//! it fails).
//!
//! Readiness is awaited by connecting with a deadline, never by sleeping a
//! fixed time. Every wait is bounded, so a broken binary fails a test
//! instead of hanging the suite.
//!
//! The binaries are taken from the same target directory as the test
//! executable; `cargo test --workspace` builds them (each binary package has
//! an integration test of its own, which makes cargo build the binary).

pub mod promql;

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

pub mod relay;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;

pub mod flood;

/// How long a binary may take to start listening.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a read on a test connection may block.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// Path of a workspace binary (`dc_server`, `dc_test`, ...).
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>/<name>
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executable lives in target/<profile>/deps");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built; run the tests with `cargo test --workspace`, which builds every binary",
        path.display()
    );
    path
}

/// The captured vectors (tests/vectors/vectors.json).
pub fn vectors() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("vectors/vectors.json");
    let text = std::fs::read_to_string(&path).expect("vectors.json");
    serde_json::from_str(&text).expect("vectors.json parses")
}

/// A redis-server's arguments for `port` on loopback, keeping nothing on
/// disk; its files (a cluster's or a sentinel's) go to `dir` ("." is the
/// directory [`Daemon`] runs it in).
pub fn throwaway_redis_args(port: u16, dir: &str) -> Vec<String> {
    [
        "--port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        dir,
    ]
    .map(String::from)
    .to_vec()
}

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// `IP:127.0.0.1:<port>`.
pub fn tcp_address(port: u16) -> String {
    format!("IP:127.0.0.1:{port}")
}

/// A running binary, killed when dropped.
pub struct Daemon {
    child: Child,
    name: String,
    /// The address it serves, as given on its command line.
    pub address: String,
    stderr_path: PathBuf,
    // Keeps the log (and any unix socket) directory alive.
    dir: tempfile::TempDir,
}

impl Daemon {
    /// Starts `name` with `args` and waits until `address` accepts
    /// connections. Panics, with the program's stderr, if it exits first or
    /// does not listen in time.
    pub fn start(name: &str, args: &[String], address: &str) -> Daemon {
        Daemon::start_in(tempfile::tempdir().expect("tempdir"), name, args, address)
    }

    /// Like [`start`](Self::start), keeping `dir` (where a unix socket may
    /// live) until the daemon is dropped.
    pub fn start_in(dir: tempfile::TempDir, name: &str, args: &[String], address: &str) -> Daemon {
        Daemon::start_program(&bin(name), dir, args, address)
    }

    /// Like [`start_in`](Self::start_in) for any program (a wrapper such
    /// as `prlimit` in front of one of ours, for example).
    pub fn start_program(
        program: &Path,
        dir: tempfile::TempDir,
        args: &[String],
        address: &str,
    ) -> Daemon {
        let mut daemon = Daemon::spawn(program, dir, args, address);
        daemon.wait_listening();
        daemon
    }

    /// Starts `program` with its stderr in a file in `dir` (debug logs
    /// unless RUST_LOG says otherwise), without waiting for anything.
    fn spawn(program: &Path, dir: tempfile::TempDir, args: &[String], address: &str) -> Daemon {
        let name = program
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "program".into());
        let stderr_path = dir.path().join(format!("{name}.stderr"));
        let stderr = File::create(&stderr_path).expect("stderr log file");
        // Run in the daemon's own directory: whatever it writes to its
        // working directory (a redis-server's dump.rdb) goes there, not
        // into the source tree.
        let child = Command::new(program)
            .args(args)
            .current_dir(dir.path())
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "debug".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Daemon {
            child,
            name,
            address: address.to_string(),
            stderr_path,
            dir,
        }
    }

    fn wait_listening(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "{} exited ({status}) before listening on {}; stderr:\n{}",
                    self.name,
                    self.address,
                    self.stderr()
                );
            }
            if Conn::try_connect(&self.address).is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not listen on {} within {START_TIMEOUT:?}; stderr:\n{}",
                self.name,
                self.address,
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A directory that lives as long as the daemon.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Everything the program wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Sends a signal.
    pub fn signal(&self, signal: Signal) {
        let _ = kill(Pid::from_raw(self.child.id() as i32), signal);
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits up to `timeout` for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The processes this one forked that are still running (a forking
    /// server's sessions), read from /proc.
    pub fn children(&self) -> Vec<u32> {
        let me = self.child.id();
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        entries
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| parent_of(*pid) == Some(me))
            .collect()
    }

    /// Waits until the process has no children left, for at most `timeout`.
    pub fn wait_no_children(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.children().is_empty() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits until stderr contains `needle`, for at most `timeout`.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.stderr().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }
}

/// The parent process id of `pid`, from /proc/PID/stat (the field after
/// the state, which follows the parenthesised command name).
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(1)?.parse().ok()
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts dc_server on a free loopback port with `extra` arguments.
pub fn start_server(extra: &[&str]) -> Daemon {
    // The port was free when picked; if another test grabbed it meanwhile,
    // the server refuses to start and we pick again.
    for _ in 0..3 {
        let address = tcp_address(free_port());
        let mut args = vec!["-listen".to_string(), address.clone()];
        args.extend(extra.iter().map(|s| s.to_string()));
        let attempt = std::panic::catch_unwind(|| {
            let mut daemon = Daemon::start("dc_server", &args, &address);
            // Another test's server on the same port would have answered
            // the readiness probe for one of ours that failed to bind.
            assert!(daemon.is_running(), "dc_server exited: {}", daemon.stderr());
            daemon
        });
        if let Ok(daemon) = attempt {
            return daemon;
        }
    }
    panic!("could not start dc_server on a free port");
}

/// Starts dc_server on a unix socket in a fresh temporary directory.
pub fn start_server_unix(extra: &[&str]) -> Daemon {
    let dir = tempfile::tempdir().expect("tempdir");
    let address = format!("UNIX:{}", dir.path().join("dc.sock").display());
    let mut args = vec!["-listen".to_string(), address.clone()];
    args.extend(extra.iter().map(|s| s.to_string()));
    Daemon::start_in(dir, "dc_server", &args, &address)
}

/// dc_server serving RESP and memcache on free loopback ports (besides
/// distcache), as Apache, ProFTPD and the conformance tests use it.
pub struct FrontDoors {
    /// The server; its `address` is the distcache listener.
    pub server: Daemon,
    /// The RESP listener's port on 127.0.0.1.
    pub redis_port: u16,
    /// The memcache listener's port on 127.0.0.1.
    pub memcache_port: u16,
}

/// Starts dc_server with `-listen`, `-listen-redis` and `-listen-memcache`
/// on free loopback ports, plus `extra` arguments, and waits until all
/// three accept.
pub fn start_front_doors(extra: &[&str]) -> FrontDoors {
    for _ in 0..3 {
        let (distcache, redis, memcache) = (free_port(), free_port(), free_port());
        if distcache == redis || redis == memcache || distcache == memcache {
            continue;
        }
        let mut args = vec![
            "-listen".to_string(),
            tcp_address(distcache),
            "-listen-redis".to_string(),
            tcp_address(redis),
            "-listen-memcache".to_string(),
            tcp_address(memcache),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let address = tcp_address(distcache);
        let attempt = std::panic::catch_unwind(|| {
            let mut server = Daemon::start("dc_server", &args, &address);
            // Every listener is bound before the server serves any; and a
            // port another test's server holds would have answered the
            // readiness probe for a server of ours that failed to bind.
            for port in [redis, memcache] {
                Conn::connect(&tcp_address(port));
            }
            assert!(server.is_running(), "dc_server exited: {}", server.stderr());
            server
        });
        if let Ok(server) = attempt {
            return FrontDoors {
                server,
                redis_port: redis,
                memcache_port: memcache,
            };
        }
    }
    panic!("could not start dc_server with its three front doors on free ports");
}

/// Runs a binary to completion, killing it if it takes longer than
/// `timeout`. Returns its output (stdout and stderr captured).
pub fn run(name: &str, args: &[&str], timeout: Duration) -> Output {
    run_command(Command::new(bin(name)).args(args), b"", timeout)
}

/// Runs dc_test against `address` with `args` (its verify mode checks
/// every answer against its model) and fails the test, with dc_test's
/// stderr, unless every answer was right.
pub fn dc_test_verifies(address: &str, args: &[&str]) {
    let mut full = vec!["-connect", address];
    full.extend_from_slice(args);
    let out = run("dc_test", &full, Duration::from_secs(60));
    assert!(
        out.status.success(),
        "dc_test {full:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An installed program (redis-server, apache2, openssl, ...), looked for
/// on the PATH and in the system directories. The tests never skip: a
/// missing program fails the test with the package to install.
pub fn installed_program(name: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/bin", "/sbin", "/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{name} is not installed (Debian package {package})"))
}

/// Runs `cmd` to completion with `input` on its stdin (then closed) and
/// its output captured; kills it, and fails the test with what it printed,
/// if it takes longer than `timeout`.
pub fn run_command(cmd: &mut Command, input: &[u8], timeout: Duration) -> Output {
    let child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    wait_output(child, &format!("{cmd:?}"), input, timeout)
}

/// Collects the output of `child` (started with its stdout and stderr
/// piped; `input` goes to its stdin if that is piped too) until it exits;
/// kills it, and fails the test with what it printed, if it takes longer
/// than `timeout`. `what` names it in that message.
pub fn wait_output(mut child: Child, what: &str, input: &[u8], timeout: Duration) -> Output {
    // Drain the pipes in threads so a chatty child cannot block on them.
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let out_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let err_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    if let Some(mut stdin) = child.stdin.take() {
        // A child that exits without reading its input is no error here.
        let _ = stdin.write_all(input);
    }
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let stdout = out_t.join().unwrap_or_default();
    let stderr = err_t.join().unwrap_or_default();
    let Some(status) = status else {
        panic!(
            "{what} did not finish within {timeout:?}; stdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&stdout),
            String::from_utf8_lossy(&stderr)
        );
    };
    Output {
        status,
        stdout,
        stderr,
    }
}

/// A plain blocking client connection (TCP or unix) with read timeouts.
pub enum Conn {
    /// `IP:host:port`.
    Tcp(TcpStream),
    /// `UNIX:/path`.
    Unix(UnixStream),
}

impl Conn {
    /// Connects to a libnal-style address (`IP:host:port` or `UNIX:/path`).
    pub fn connect(address: &str) -> Conn {
        Conn::try_connect(address).unwrap_or_else(|e| panic!("connect to {address}: {e}"))
    }

    /// Connects, returning the error instead of panicking.
    pub fn try_connect(address: &str) -> io::Result<Conn> {
        let conn = if let Some(path) = address.strip_prefix("UNIX:") {
            Conn::Unix(UnixStream::connect(path)?)
        } else if let Some(hostport) = address.strip_prefix("IP:") {
            let s = TcpStream::connect_timeout(
                &hostport
                    .parse()
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{e}")))?,
                IO_TIMEOUT,
            )?;
            s.set_nodelay(true)?;
            Conn::Tcp(s)
        } else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                address.to_string(),
            ));
        };
        conn.set_read_timeout(Some(IO_TIMEOUT))?;
        Ok(conn)
    }

    /// Sets the read timeout.
    pub fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        match self {
            Conn::Tcp(s) => s.set_read_timeout(t),
            Conn::Unix(s) => s.set_read_timeout(t),
        }
    }

    /// Writes all of `bytes`.
    pub fn send(&mut self, bytes: &[u8]) {
        self.write_all(bytes).expect("send");
    }

    /// Reads exactly `n` bytes (panics on timeout or EOF).
    pub fn recv(&mut self, n: usize) -> Vec<u8> {
        let mut buf = vec![0; n];
        self.read_exact(&mut buf)
            .unwrap_or_else(|e| panic!("expected {n} bytes: {e}"));
        buf
    }

    /// Reads until the peer closes; panics if it does not within the read
    /// timeout. Returns what arrived before the close.
    pub fn read_to_eof(&mut self) -> Vec<u8> {
        let mut buf = Vec::new();
        match self.read_to_end(&mut buf) {
            Ok(_) => buf,
            // A reset is a close too.
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => buf,
            Err(e) => panic!("expected the peer to close: {e} (got {} bytes)", buf.len()),
        }
    }

    /// Checks that nothing arrives for `ms` and the connection stays open.
    pub fn expect_silent(&mut self, ms: u64) {
        self.set_read_timeout(Some(Duration::from_millis(ms)))
            .expect("timeout");
        let mut b = [0u8; 1];
        match self.read(&mut b) {
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            other => panic!("expected silence, got {other:?}"),
        }
        self.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
    }

    /// Half-closes: no more bytes from us.
    pub fn shutdown_write(&self) {
        let _ = match self {
            Conn::Tcp(s) => s.shutdown(Shutdown::Write),
            Conn::Unix(s) => s.shutdown(Shutdown::Write),
        };
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Tcp(s) => s.read(buf),
            Conn::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Tcp(s) => s.write(buf),
            Conn::Unix(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Decodes a hex string from the vectors.
pub fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).expect("hex")
}

impl Daemon {
    /// Starts `name` with `args` and waits until its stderr has a line
    /// containing `needle` (its "listening" log line, say), keeping `dir`
    /// until the daemon is dropped. For proxies: the readiness probe of
    /// [`start`](Self::start) is a connection, which a proxy would relay and
    /// report. `address` is left empty for the caller to fill in (from the
    /// log line, when the daemon was asked to listen on port 0).
    pub fn start_until_log(
        dir: tempfile::TempDir,
        name: &str,
        args: &[String],
        needle: &str,
    ) -> Daemon {
        let mut daemon = Daemon::spawn(&bin(name), dir, args, "");
        let deadline = Instant::now() + START_TIMEOUT;
        while !daemon.stderr().contains(needle) {
            if let Ok(Some(status)) = daemon.child.try_wait() {
                panic!(
                    "{name} exited ({status}) before logging {needle:?}; stderr:\n{}",
                    daemon.stderr()
                );
            }
            assert!(
                Instant::now() < deadline,
                "{name} did not log {needle:?} within {START_TIMEOUT:?}; stderr:\n{}",
                daemon.stderr()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        daemon
    }
}

/// Waits until the text of the file at `path` satisfies `ready`, for at
/// most `timeout`, and returns that text. Panics with the text on timeout.
/// For output that a daemon writes as things happen.
pub fn wait_for_file(path: &Path, timeout: Duration, ready: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if ready(&text) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{} did not reach the expected state within {timeout:?}; it holds:\n{text}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

impl Conn {
    /// Reads until `n` bytes arrived, the peer closed, or the read timeout
    /// passed; returns what arrived (for probing a server that may close).
    pub fn read_to_eof_or(&mut self, n: usize) -> Vec<u8> {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        while buf.len() < n {
            match self.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(k) => buf.extend_from_slice(&chunk[..k]),
            }
        }
        buf
    }
}

/// Scrapes `/metrics` at `address`, in any form dc_server's `-metrics`
/// takes (`127.0.0.1:9101`, `IP:127.0.0.1:9101`, `[::1]:9101`; a `:port`
/// is scraped on 127.0.0.1), with a bare HTTP/1.0 GET. Panics unless the
/// answer is a 200; returns the body.
pub fn scrape(address: &str) -> String {
    let parsed = nal::Address::parse(address).unwrap_or_else(|e| panic!("{e}"));
    let parsed = match parsed {
        nal::Address::Ip { host: None, port } => nal::Address::Ip {
            host: Some("127.0.0.1".into()),
            port,
        },
        other => other,
    };
    let socket = parsed
        .resolve()
        .unwrap_or_else(|e| panic!("metrics address {address}: {e}"));
    let mut s = TcpStream::connect_timeout(&socket, IO_TIMEOUT)
        .unwrap_or_else(|e| panic!("metrics endpoint {address}: {e}"));
    s.set_read_timeout(Some(IO_TIMEOUT)).expect("read timeout");
    write!(s, "GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n").expect("send the request");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read the answer");
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    assert!(
        head.starts_with("HTTP/1.") && head.contains(" 200 "),
        "scrape of {address}: {text}"
    );
    body.to_string()
}

/// Scrapes `address` until `check` holds (metrics are published every
/// 500 ms), for at most 5 s, and returns that scrape.
pub fn scrape_until(address: &str, check: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let text = scrape(address);
        if check(&text) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "metrics at {address} never matched:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
