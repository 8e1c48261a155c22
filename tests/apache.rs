//! Stock Apache httpd (Debian's `/usr/sbin/apache2` with mod_ssl and
//! mod_socache_memcache / mod_socache_redis) sharing TLS sessions through
//! `dc_server`'s memcache and RESP front doors.
//!
//! For each cache kind (`memcache:` and `redis:`) and each TLS version (1.2
//! and 1.3), one dc_server and two Apache nodes, A and B, each a separate
//! process with its own configuration and directory, sharing nothing but
//! the certificate and the cache. `SSLSessionTickets off`, so a resumption
//! can only come from the shared session cache. `openssl s_client` makes a
//! session on A and resumes it on B, then makes one on B and resumes it on
//! A; the server's metrics must show the requests, the stores and the cache
//! hits. One more test does the same over unix sockets (`redis:/path`,
//! `memcache:/path`).
//!
//! Then the way a fleet runs it: each node talks to its own `dc_client`
//! (RESP and memcache front doors on unix sockets), which carries the
//! sessions to dc_server over the protocol extension; and each node's
//! dc_client on a pool of two dc_servers with `-replicas 2`, one of them
//! killed between the handshake on A and the resumption on B.
//!
//! The same scenario also runs against the real `redis-server` and
//! `memcached` (the `reference_*` tests): if those pass and the dc_server
//! ones fail, the fault is dc_server's, not the Apache setup's.
//!
//! Every wait is bounded; Apache (its parent and its children, which run as
//! `nobody` when the tests run as root), the cache servers and s_client are
//! all stopped when a test ends, also when it fails.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use dc_e2e::{
    free_port, run_command, start_front_doors, tcp_address, wait_for_file, Conn, Daemon, FrontDoors,
};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

const APACHE: &str = "/usr/sbin/apache2";
const MODULES: &str = "/usr/lib/apache2/modules";
/// How long one external command (openssl) may run.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(20);
/// How long Apache may take to start or to stop.
const APACHE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the metrics may take to show the traffic (published every
/// 500 ms).
const METRICS_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq)]
enum Cache {
    Memcache,
    Redis,
}

impl Cache {
    /// The `SSLSessionCache` provider name.
    fn provider(self) -> &'static str {
        match self {
            Cache::Memcache => "memcache",
            Cache::Redis => "redis",
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Tls {
    V12,
    V13,
}

impl Tls {
    /// The name in `SSLProtocol` and in s_client's output.
    fn name(self) -> &'static str {
        match self {
            Tls::V12 => "TLSv1.2",
            Tls::V13 => "TLSv1.3",
        }
    }

    /// s_client's option.
    fn flag(self) -> &'static str {
        match self {
            Tls::V12 => "-tls1_2",
            Tls::V13 => "-tls1_3",
        }
    }
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Runs `program` with `input` on its stdin (then closed), within
/// `timeout`.
fn run_program(program: &str, args: &[&str], input: &[u8], timeout: Duration) -> Output {
    run_command(Command::new(program).args(args), input, timeout)
}

/// A self-signed certificate for CN=localhost, in a directory of its own.
struct Cert {
    _dir: tempfile::TempDir,
    cert: PathBuf,
    key: PathBuf,
}

impl Cert {
    fn new() -> Cert {
        let dir = tempfile::tempdir().expect("tempdir");
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        let out = run_program(
            "openssl",
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-subj",
                "/CN=localhost",
                "-days",
                "1",
                "-keyout",
                key.to_str().unwrap(),
                "-out",
                cert.to_str().unwrap(),
            ],
            b"",
            COMMAND_TIMEOUT,
        );
        assert!(
            out.status.success(),
            "openssl req failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Cert {
            _dir: dir,
            cert,
            key,
        }
    }
}

/// The pids of `parent`'s children (from /proc).
fn children_of(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // pid (comm) state ppid ...: comm may hold spaces, so split
            // after its closing parenthesis.
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok())
                == Some(parent)
        })
        .collect()
}

/// Whether process `pid` still runs with `needle` on its command line.
fn runs_with(pid: u32, needle: &str) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| String::from_utf8_lossy(&c).contains(needle))
        .unwrap_or(false)
}

/// One Apache node: `apache2 -f <conf> -DFOREGROUND` with everything
/// (configuration, pid file, mutexes, logs, document root) in a temporary
/// directory of its own.
struct Apache {
    name: &'static str,
    port: u16,
    conf: PathBuf,
    error_log: PathBuf,
    /// The children seen after startup (workers; they outlive a killed
    /// parent, so they are stopped by pid on drop).
    children: Vec<u32>,
    daemon: Option<Daemon>,
}

impl Apache {
    /// Starts a node serving TLS `tls` on a free loopback port with
    /// `SSLSessionCache <cache>`, and waits until it is up.
    fn start(name: &'static str, cache: &str, tls: Tls, cert: &Cert) -> Apache {
        let mut last_error = String::new();
        for _ in 0..3 {
            let port = free_port();
            let dir = tempfile::Builder::new()
                .prefix(&format!("apache-{name}-"))
                .tempdir()
                .expect("tempdir");
            let root = dir.path().to_path_buf();
            // The workers run as nobody when we are root: they read the
            // document root (and the mutex files live here).
            std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
            let htdocs = root.join("htdocs");
            std::fs::create_dir(&htdocs).unwrap();
            std::fs::write(htdocs.join("index.html"), format!("hello from {name}\n")).unwrap();
            let conf = root.join("httpd.conf");
            let error_log = root.join("error.log");
            std::fs::write(&conf, config(&root, port, cache, tls, cert)).unwrap();
            let args = vec![
                "-f".to_string(),
                conf.display().to_string(),
                "-DFOREGROUND".to_string(),
            ];
            let address = tcp_address(port);
            let started = std::panic::catch_unwind(AssertUnwindSafe(|| {
                Daemon::start_program(Path::new(APACHE), dir, &args, &address)
            }));
            let daemon = match started {
                Ok(daemon) => daemon,
                Err(e) => {
                    // (The port may have been taken meanwhile: try another.)
                    last_error = e
                        .downcast_ref::<String>()
                        .cloned()
                        .unwrap_or_else(|| "apache2 did not start".into());
                    continue;
                }
            };
            let mut node = Apache {
                name,
                port,
                conf,
                error_log,
                children: Vec::new(),
                daemon: Some(daemon),
            };
            // The parent binds its listener before it has finished its
            // configuration (mod_ssl's checks come later), so a connection
            // alone does not mean it is up: wait for its "resuming normal
            // operations" line too.
            wait_for_file(&node.error_log, APACHE_TIMEOUT, |log| {
                log.contains("resuming normal operations")
            });
            let pid = node.daemon.as_ref().unwrap().pid();
            node.children = children_of(pid);
            return node;
        }
        panic!("could not start Apache node {name}: {last_error}");
    }

    fn error_log(&self) -> String {
        std::fs::read_to_string(&self.error_log).unwrap_or_default()
    }

    /// s_client's output for one HTTP/1.0 request with `session` read
    /// (`-sess_in`) or written (`-sess_out`), checked to be a complete
    /// answer from this node.
    fn request(&self, tls: Tls, session_option: &str, session: &Path) -> String {
        let connect = format!("127.0.0.1:{}", self.port);
        let out = run_program(
            "openssl",
            &[
                "s_client",
                "-connect",
                &connect,
                "-servername",
                "localhost",
                tls.flag(),
                session_option,
                session.to_str().unwrap(),
                // Keep reading after our request (stdin closes at once)
                // until the server closes: for TLS 1.3 the session arrives
                // after the handshake, with the answer.
                "-ign_eof",
            ],
            b"GET /index.html HTTP/1.0\r\nHost: localhost\r\n\r\n",
            COMMAND_TIMEOUT,
        );
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.contains("HTTP/1.1 200 OK") && text.contains(&format!("hello from {}", self.name)),
            "no answer from node {} (s_client {}):\n{text}\nerror log:\n{}",
            self.name,
            out.status,
            self.error_log()
        );
        text
    }
}

impl Drop for Apache {
    fn drop(&mut self) {
        let Some(mut daemon) = self.daemon.take() else {
            return;
        };
        let mut children = self.children.clone();
        children.extend(children_of(daemon.pid()));
        // SIGTERM: the parent stops its workers and exits (in well under a
        // second). A SIGKILL (the Daemon's drop) would leave them running.
        daemon.signal(Signal::SIGTERM);
        let _ = daemon.wait_exit(APACHE_TIMEOUT);
        let conf = self.conf.display().to_string();
        for pid in children {
            if runs_with(pid, &conf) {
                let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
            }
        }
        drop(daemon);
    }
}

/// A minimal httpd.conf: the event MPM with one small child, mod_ssl on the
/// main server, the session cache `cache`, no tickets.
fn config(root: &Path, port: u16, cache: &str, tls: Tls, cert: &Cert) -> String {
    let root = root.display();
    let user = if is_root() {
        // httpd refuses to serve as root.
        "User nobody\nGroup nogroup\n"
    } else {
        ""
    };
    format!(
        r#"ServerRoot "{root}"
# The same ServerName (with its port) on every node: mod_ssl derives the
# session id context from it, and a session only resumes under the context
# it was made in.
ServerName localhost:443
PidFile "{root}/httpd.pid"
DefaultRuntimeDir "{root}"
Mutex file:{root} default
ErrorLog "{root}/error.log"
LogLevel info ssl:debug socache_memcache:debug socache_redis:debug
{user}
LoadModule mpm_event_module {MODULES}/mod_mpm_event.so
LoadModule authz_core_module {MODULES}/mod_authz_core.so
LoadModule socache_memcache_module {MODULES}/mod_socache_memcache.so
LoadModule socache_redis_module {MODULES}/mod_socache_redis.so
LoadModule ssl_module {MODULES}/mod_ssl.so

StartServers 1
ServerLimit 1
ThreadsPerChild 4
MaxRequestWorkers 4
MinSpareThreads 1
MaxSpareThreads 4

Listen 127.0.0.1:{port}
DocumentRoot "{root}/htdocs"
<Directory "{root}/htdocs">
    Require all granted
</Directory>

SSLEngine on
SSLCertificateFile "{cert}"
SSLCertificateKeyFile "{key}"
SSLProtocol -all +{protocol}
SSLSessionCache {cache}
SSLSessionCacheTimeout 300
SSLSessionTickets off
"#,
        cert = cert.cert.display(),
        key = cert.key.display(),
        protocol = tls.name(),
    )
}

/// What the nodes share their sessions through.
enum Backend {
    /// dc_server's front doors, with its metrics endpoint.
    DcServer { _doors: FrontDoors, metrics: String },
    /// The real redis-server or memcached.
    Reference(Daemon),
}

impl Backend {
    fn dc_server() -> (Backend, u16, u16) {
        let metrics = tcp_address(free_port());
        let doors = start_front_doors(&["-metrics", &metrics]);
        let (redis, memcache) = (doors.redis_port, doors.memcache_port);
        (
            Backend::DcServer {
                _doors: doors,
                metrics,
            },
            redis,
            memcache,
        )
    }

    /// dc_server serving RESP and memcache on unix sockets in a directory
    /// of its own (and its metrics on loopback TCP).
    fn dc_server_unix() -> (Backend, PathBuf, PathBuf) {
        let dir = tempfile::Builder::new()
            .prefix("dc-sockets-")
            .tempdir()
            .expect("tempdir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let redis = dir.path().join("redis.sock");
        let memcache = dir.path().join("memcache.sock");
        let metrics = tcp_address(free_port());
        let mut args = vec![
            "-listen-redis".to_string(),
            format!("UNIX:{}", redis.display()),
            "-listen-memcache".to_string(),
            format!("UNIX:{}", memcache.display()),
            "-metrics".to_string(),
            metrics.clone(),
        ];
        if is_root() {
            // The workers connect, as nobody:nogroup.
            args.extend(["-sockgroup", "nogroup", "-sockperms", "660"].map(String::from));
        }
        let server = Daemon::start_in(
            dir,
            "dc_server",
            &args,
            &format!("UNIX:{}", redis.display()),
        );
        // Every listener is bound before the server serves any.
        Conn::connect(&format!("UNIX:{}", memcache.display()));
        (
            Backend::DcServer {
                _doors: FrontDoors {
                    server,
                    redis_port: 0,
                    memcache_port: 0,
                },
                metrics,
            },
            redis,
            memcache,
        )
    }

    /// Starts redis-server or memcached on a free loopback port.
    fn reference(cache: Cache) -> (Backend, u16) {
        for _ in 0..3 {
            let port = free_port();
            let p = port.to_string();
            let (program, args): (&str, Vec<String>) = match cache {
                Cache::Redis => (
                    "/usr/bin/redis-server",
                    dc_e2e::throwaway_redis_args(port, "."),
                ),
                Cache::Memcache => {
                    let mut args = vec!["-l", "127.0.0.1", "-p", &p, "-U", "0"];
                    if is_root() {
                        args.extend(["-u", "root"]);
                    }
                    (
                        "/usr/bin/memcached",
                        args.into_iter().map(String::from).collect(),
                    )
                }
            };
            let started = std::panic::catch_unwind(AssertUnwindSafe(|| {
                Daemon::start_program(
                    Path::new(program),
                    tempfile::tempdir().expect("tempdir"),
                    &args,
                    &tcp_address(port),
                )
            }));
            if let Ok(daemon) = started {
                return (Backend::Reference(daemon), port);
            }
        }
        panic!("could not start the reference {cache:?} server on a free port");
    }

    fn stderr(&self) -> String {
        match self {
            Backend::DcServer { _doors, .. } => _doors.server.stderr(),
            Backend::Reference(d) => d.stderr(),
        }
    }
}

/// Scrapes `/metrics` at `address` (IP:host:port); None if it does not
/// answer (yet).
fn scrape(address: &str) -> Option<String> {
    let hostport = address.strip_prefix("IP:").unwrap();
    let mut s = std::net::TcpStream::connect(hostport).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    text.contains(" 200 ").then_some(text)
}

/// The value of the sample of `name` whose labels include all of `labels`
/// (`key="value"` each, in any order), or 0 if there is none.
fn sample(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let rest = series.strip_prefix(name)?;
            let inner = rest.strip_prefix('{')?.strip_suffix('}')?;
            let have: Vec<&str> = inner.split(',').collect();
            labels
                .iter()
                .all(|want| have.contains(want))
                .then(|| value.trim().parse::<f64>().ok())
                .flatten()
        })
        .sum()
}

/// Makes a session on `from` and resumes it on `to`.
fn make_and_resume(from: &Apache, to: &Apache, tls: Tls, work: &Path, backend: &Backend) {
    let session = work.join(format!("{}-to-{}.pem", from.name, to.name));
    let made = from.request(tls, "-sess_out", &session);
    let new = format!("New, {}", tls.name());
    assert!(
        made.contains(&new),
        "node {}: expected a full handshake ({new}):\n{made}",
        from.name
    );
    assert!(
        std::fs::metadata(&session)
            .map(|m| m.len() > 0)
            .unwrap_or(false),
        "node {}: s_client wrote no session (no NewSessionTicket?):\n{made}",
        from.name
    );
    let resumed = to.request(tls, "-sess_in", &session);
    let reused = format!("Reused, {}", tls.name());
    assert!(
        resumed.contains(&reused),
        "a session made on node {} did not resume on node {} ({reused} expected):\n{resumed}\n\
         --- error log of {}:\n{}\n--- error log of {}:\n{}\n--- cache server's stderr:\n{}",
        from.name,
        to.name,
        from.name,
        from.error_log(),
        to.name,
        to.error_log(),
        backend.stderr()
    );
}

/// Two nodes with `SSLSessionCache <spec>` share sessions through
/// `backend`, both ways; dc_server must have counted them.
fn check_sharing(cache: Cache, tls: Tls, spec: &str, backend: &Backend) {
    let started = Instant::now();
    let cert = Cert::new();
    let a = Apache::start("a", spec, tls, &cert);
    let b = Apache::start("b", spec, tls, &cert);
    let work = tempfile::tempdir().expect("tempdir");

    make_and_resume(&a, &b, tls, work.path(), backend);
    make_and_resume(&b, &a, tls, work.path(), backend);

    if let Backend::DcServer { metrics, .. } = backend {
        // At least a store per new session and a hit per resumption went
        // through the front door.
        let protocol = format!("protocol=\"{}\"", cache.provider());
        let deadline = Instant::now() + METRICS_TIMEOUT;
        loop {
            let text = scrape(metrics).unwrap_or_default();
            let requests = sample(&text, "distcache_requests_total", &[&protocol]);
            let hits = sample(
                &text,
                "distcache_store_operations_total",
                &[&protocol, "operation=\"get\"", "result=\"hit\""],
            );
            let stores = sample(
                &text,
                "distcache_store_operations_total",
                &[&protocol, "operation=\"store\"", "result=\"stored\""],
            );
            if requests >= 4.0 && hits >= 2.0 && stores >= 2.0 {
                eprintln!(
                    "{spec} {}: dc_server answered {requests} requests ({stores} stores, {hits} hits)",
                    tls.name()
                );
                break;
            }
            assert!(
                Instant::now() < deadline,
                "dc_server's metrics do not show the sessions going through its {} front door \
                 (requests {requests}, stores {stores}, hits {hits}):\n{text}",
                cache.provider()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    eprintln!(
        "{spec} {} ({}): shared both ways in {:?}",
        tls.name(),
        match backend {
            Backend::DcServer { .. } => "dc_server",
            Backend::Reference(_) => "reference",
        },
        started.elapsed()
    );
}

/// One dc_server, two nodes, over TCP.
fn shares_sessions(cache: Cache, tls: Tls) {
    let (backend, redis, memcache) = Backend::dc_server();
    let port = match cache {
        Cache::Redis => redis,
        Cache::Memcache => memcache,
    };
    let spec = format!("{}:127.0.0.1:{port}", cache.provider());
    check_sharing(cache, tls, &spec, &backend);
}

/// The real redis-server or memcached, two nodes, over TCP.
fn reference_shares_sessions(cache: Cache, tls: Tls) {
    let (backend, port) = Backend::reference(cache);
    let spec = format!("{}:127.0.0.1:{port}", cache.provider());
    check_sharing(cache, tls, &spec, &backend);
}

#[test]
fn memcache_tls12_sessions_shared_through_dc_server() {
    shares_sessions(Cache::Memcache, Tls::V12);
}

#[test]
fn memcache_tls13_sessions_shared_through_dc_server() {
    shares_sessions(Cache::Memcache, Tls::V13);
}

#[test]
fn redis_tls12_sessions_shared_through_dc_server() {
    shares_sessions(Cache::Redis, Tls::V12);
}

#[test]
fn redis_tls13_sessions_shared_through_dc_server() {
    shares_sessions(Cache::Redis, Tls::V13);
}

// The same against the real servers: the Apache setup itself works.

#[test]
fn reference_memcached_tls12() {
    reference_shares_sessions(Cache::Memcache, Tls::V12);
}

#[test]
fn reference_memcached_tls13() {
    reference_shares_sessions(Cache::Memcache, Tls::V13);
}

#[test]
fn reference_redis_server_tls12() {
    reference_shares_sessions(Cache::Redis, Tls::V12);
}

#[test]
fn reference_redis_server_tls13() {
    reference_shares_sessions(Cache::Redis, Tls::V13);
}

/// `SSLSessionCache redis:/path` and `memcache:/path`: a host starting with
/// `/` is a unix socket to apr-util. One dc_server serves both sockets,
/// given to the group the workers run as.
#[test]
fn unix_sockets_sessions_shared_through_dc_server() {
    let (backend, redis, memcache) = Backend::dc_server_unix();
    check_sharing(
        Cache::Redis,
        Tls::V12,
        &format!("redis:{}", redis.display()),
        &backend,
    );
    check_sharing(
        Cache::Memcache,
        Tls::V13,
        &format!("memcache:{}", memcache.display()),
        &backend,
    );
}

// ---- through each node's dc_client ------------------------------------

/// A node's dc_client: RESP and memcache front doors on unix sockets in a
/// directory of its own, in front of `servers`.
struct Sidecar {
    dc: Daemon,
    redis: PathBuf,
    memcache: PathBuf,
}

impl Sidecar {
    fn start(servers: &[String], replicas: usize) -> Sidecar {
        let dir = tempfile::Builder::new()
            .prefix("dc-client-")
            .tempdir()
            .expect("tempdir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let redis = dir.path().join("redis.sock");
        let memcache = dir.path().join("memcache.sock");
        let mut args = vec![
            "-listen-redis".to_string(),
            format!("UNIX:{}", redis.display()),
            "-listen-memcache".to_string(),
            format!("UNIX:{}", memcache.display()),
            "-replicas".to_string(),
            replicas.to_string(),
        ];
        for server in servers {
            args.extend(["-server".to_string(), server.clone()]);
        }
        if is_root() {
            // The workers connect, as nobody:nogroup.
            args.extend(["-sockgroup", "nogroup", "-sockperms", "660"].map(String::from));
        }
        let dc = Daemon::start_in(
            dir,
            "dc_client",
            &args,
            &format!("UNIX:{}", redis.display()),
        );
        Conn::connect(&format!("UNIX:{}", memcache.display()));
        for server in servers {
            assert!(
                dc.wait_for_log(&format!("connected to {server}"), APACHE_TIMEOUT),
                "dc_client did not connect to {server}:\n{}",
                dc.stderr()
            );
        }
        Sidecar {
            dc,
            redis,
            memcache,
        }
    }

    /// The `SSLSessionCache` argument for this node's socket.
    fn spec(&self, cache: Cache) -> String {
        let path = match cache {
            Cache::Redis => &self.redis,
            Cache::Memcache => &self.memcache,
        };
        format!("{}:{}", cache.provider(), path.display())
    }
}

/// dc_servers on loopback, with their metrics.
fn dc_servers(n: usize) -> Vec<(Daemon, String)> {
    (0..n)
        .map(|_| {
            let metrics = tcp_address(free_port());
            let server = dc_e2e::start_server(&["-metrics", &metrics]);
            (server, metrics)
        })
        .collect()
}

/// The cache hits and stores a dc_server counted, over every protocol.
fn hits_and_stores(metrics: &str) -> (f64, f64) {
    let text = scrape(metrics).unwrap_or_default();
    let hits = sample(
        &text,
        "distcache_store_operations_total",
        &["operation=\"get\"", "result=\"hit\""],
    );
    let stores = sample(
        &text,
        "distcache_store_operations_total",
        &["operation=\"store\"", "result=\"stored\""],
    );
    (hits, stores)
}

/// Two nodes, each with `SSLSessionCache` on its own dc_client, one
/// dc_server behind both: sessions made on either resume on the other, and
/// went through the server.
fn shares_sessions_through_sidecars(cache: Cache, tls: Tls) {
    let servers = dc_servers(1);
    let addresses = vec![servers[0].0.address.clone()];
    let (sa, sb) = (Sidecar::start(&addresses, 1), Sidecar::start(&addresses, 1));
    let cert = Cert::new();
    let a = Apache::start("a", &sa.spec(cache), tls, &cert);
    let b = Apache::start("b", &sb.spec(cache), tls, &cert);
    let work = tempfile::tempdir().expect("tempdir");
    let backend = Backend::Reference(servers.into_iter().next().unwrap().0);
    make_and_resume(&a, &b, tls, work.path(), &backend);
    make_and_resume(&b, &a, tls, work.path(), &backend);
    drop(backend);
    for side in [&sa, &sb] {
        assert!(
            !side.dc.stderr().contains("speaks distcache 1.x only"),
            "dc_client did not negotiate the extension:\n{}",
            side.dc.stderr()
        );
    }
}

#[test]
fn redis_tls12_sessions_shared_through_each_nodes_dc_client() {
    shares_sessions_through_sidecars(Cache::Redis, Tls::V12);
}

#[test]
fn memcache_tls13_sessions_shared_through_each_nodes_dc_client() {
    shares_sessions_through_sidecars(Cache::Memcache, Tls::V13);
}

/// Each node's dc_client on a pool of two dc_servers with `-replicas 2`:
/// one dc_server is killed between the handshake on A and the resumption
/// on B, and B still resumes.
fn survives_a_server_kill_between_nodes(cache: Cache, tls: Tls) {
    let mut servers: Vec<Option<(Daemon, String)>> = dc_servers(2).into_iter().map(Some).collect();
    let addresses: Vec<String> = servers
        .iter()
        .map(|s| s.as_ref().unwrap().0.address.clone())
        .collect();
    let (sa, sb) = (Sidecar::start(&addresses, 2), Sidecar::start(&addresses, 2));
    let cert = Cert::new();
    let a = Apache::start("a", &sa.spec(cache), tls, &cert);
    let b = Apache::start("b", &sb.spec(cache), tls, &cert);
    let work = tempfile::tempdir().expect("tempdir");
    for victim in 0..2 {
        let session = work.path().join(format!("a-{victim}.pem"));
        let made = a.request(tls, "-sess_out", &session);
        assert!(made.contains(&format!("New, {}", tls.name())), "{made}");
        // Both servers hold the session (replicas 2) before one dies.
        let deadline = Instant::now() + METRICS_TIMEOUT;
        for (_, metrics) in servers.iter().flatten() {
            while hits_and_stores(metrics).1 < 1.0 {
                assert!(Instant::now() < deadline, "no store on {metrics}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        if victim == 1 {
            // The first kill's survivor holds every session now; bring the
            // victim of the first round back empty, then kill the other.
            let address = addresses[0].clone();
            let metrics = tcp_address(free_port());
            let args = ["-listen", &address, "-metrics", &metrics].map(String::from);
            servers[0] = Some((Daemon::start("dc_server", &args, &address), metrics));
            for side in [&sa, &sb] {
                let line = format!("connected to {address} again");
                assert!(
                    side.dc.wait_for_log(&line, APACHE_TIMEOUT),
                    "{}",
                    side.dc.stderr()
                );
            }
            // The session made just now is on both.
            let again = work.path().join("a-again.pem");
            let made = a.request(tls, "-sess_out", &again);
            assert!(made.contains(&format!("New, {}", tls.name())), "{made}");
            std::fs::rename(&again, &session).unwrap();
        }
        let (killed, _) = servers[victim].take().unwrap();
        killed.signal(Signal::SIGKILL);
        drop(killed);
        let resumed = b.request(tls, "-sess_in", &session);
        assert!(
            resumed.contains(&format!("Reused, {}", tls.name())),
            "dc_server {victim} killed between A and B: B did not resume:\n{resumed}\n\
             --- B's error log:\n{}\n--- B's dc_client:\n{}",
            b.error_log(),
            sb.dc.stderr()
        );
        eprintln!(
            "{} {}: dc_server {victim} killed between A and B, B resumed",
            cache.provider(),
            tls.name()
        );
        if victim == 1 {
            break;
        }
    }
}

#[test]
fn redis_pool_of_two_with_replicas_survives_a_kill_between_the_nodes() {
    survives_a_server_kill_between_nodes(Cache::Redis, Tls::V12);
}

#[test]
fn memcache_pool_of_two_with_replicas_survives_a_kill_between_the_nodes() {
    survives_a_server_kill_between_nodes(Cache::Memcache, Tls::V13);
}
