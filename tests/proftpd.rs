//! End-to-end tests with stock ProFTPD (Debian's proftpd 1.3.8 and its
//! DSO modules): two FTP nodes, A and B, share one dc_server through its
//! Redis (RESP2) or memcache front door, as a fleet would.
//!
//! - TLS sessions: `TLSSessionCache redis:` (mod_tls_redis, hiredis) and
//!   `TLSSessionCache memcache:` (mod_tls_memcache, libmemcached over the
//!   binary protocol). A session made on A is resumed on B, and one made on
//!   B is resumed on A (`openssl s_client -starttls ftp -tls1_2`, with
//!   `-sess_out` / `-sess_in`). Tickets are off (the default), so a
//!   resumption can only come from the shared cache.
//! - Bans: mod_ban with `BanCache redis` (JSON entries) and `BanCache
//!   memcache` (TPL entries). A failed login on A bans 127.0.0.1 there
//!   (`MaxLoginAttempts 1`, `BanOnEvent MaxLoginAttempts 1/00:01:00
//!   00:10:00`); each node has its own `BanTable`, so only the cache can
//!   carry the ban to B, which must then refuse 127.0.0.1 with a 530.
//!
//! The cache is dc_server, reached directly, or the way a fleet runs it:
//! each node through its own dc_client (`-listen-redis`,
//! `-listen-memcache` on loopback), which carries everything to dc_server
//! over the protocol extension (the `*_through_each_nodes_dc_client`
//! tests). For differential debugging, set
//! `DC_E2E_PROFTPD_CACHE=reference` to run the same tests against the real
//! redis-server and memcached instead (not needed, and not used, in CI).
//!
//! Everything listens on 127.0.0.1 only (`SocketBindTight on`); every wait
//! is bounded; the nodes get SIGTERM when dropped (so mod_ban removes its
//! SysV shared memory), then SIGKILL from the harness.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use dc_e2e::{
    free_port, installed_program, run_command, start_front_doors, tcp_address, Daemon, FrontDoors,
    IO_TIMEOUT,
};
use nix::sys::signal::Signal;

/// How long an external command (openssl) may run.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a node may take to stop on SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// Which of dc_server's front doors the nodes use.
#[derive(Clone, Copy, Debug)]
enum Door {
    Redis,
    Memcache,
}

/// The shared cache: dc_server, or for comparison the real thing.
enum Cache {
    Server(FrontDoors),
    Reference(Daemon),
    /// dc_server behind one dc_client per node.
    /// (The server, then node a's and node b's dc_client.)
    Sidecars(Box<[Daemon; 3]>),
}

/// A node's dc_client, serving `door` on a free loopback port, in front of
/// `server`; and that port.
fn sidecar(door: Door, server: &str) -> (Daemon, u16) {
    for _ in 0..3 {
        let port = free_port();
        let option = match door {
            Door::Redis => "-listen-redis",
            Door::Memcache => "-listen-memcache",
        };
        let args = [option, &tcp_address(port), "-server", server].map(String::from);
        let started = std::panic::catch_unwind(AssertUnwindSafe(|| {
            let mut dc = Daemon::start("dc_client", &args, &tcp_address(port));
            assert!(dc.is_running(), "dc_client exited: {}", dc.stderr());
            assert!(
                dc.wait_for_log(&format!("connected to {server}"), IO_TIMEOUT),
                "dc_client did not connect: {}",
                dc.stderr()
            );
            dc
        }));
        if let Ok(dc) = started {
            return (dc, port);
        }
    }
    panic!("could not start dc_client on a free port");
}

impl Cache {
    /// dc_server behind a dc_client for each node; the nodes' ports.
    fn sidecars(door: Door) -> (Cache, u16, u16) {
        let server = dc_e2e::start_server(&[]);
        let (a, port_a) = sidecar(door, &server.address);
        let (b, port_b) = sidecar(door, &server.address);
        (Cache::Sidecars(Box::new([server, a, b])), port_a, port_b)
    }

    fn start(door: Door) -> (Cache, u16) {
        if std::env::var("DC_E2E_PROFTPD_CACHE").as_deref() == Ok("reference") {
            let port = free_port();
            let port_s = port.to_string();
            let (prog, args) = match door {
                Door::Redis => (
                    installed_program("redis-server", "redis-server"),
                    dc_e2e::throwaway_redis_args(port, "."),
                ),
                Door::Memcache => (
                    installed_program("memcached", "memcached"),
                    ["-l", "127.0.0.1", "-p", &port_s, "-U", "0", "-u", "root"]
                        .map(String::from)
                        .to_vec(),
                ),
            };
            let dir = tempfile::tempdir().expect("tempdir");
            let daemon = Daemon::start_program(&prog, dir, &args, &tcp_address(port));
            return (Cache::Reference(daemon), port);
        }
        let doors = start_front_doors(&[]);
        let port = match door {
            Door::Redis => doors.redis_port,
            Door::Memcache => doors.memcache_port,
        };
        (Cache::Server(doors), port)
    }

    fn stderr(&self) -> String {
        match self {
            Cache::Server(doors) => doors.server.stderr(),
            Cache::Reference(daemon) => daemon.stderr(),
            Cache::Sidecars(daemons) => format!(
                "{}
--- node a's dc_client:
{}
--- node b's dc_client:
{}",
                daemons[0].stderr(),
                daemons[1].stderr(),
                daemons[2].stderr()
            ),
        }
    }
}

/// A self-signed certificate and key for 127.0.0.1, shared by the nodes
/// (a fleet serves one certificate).
struct Certificate {
    dir: tempfile::TempDir,
}

impl Certificate {
    fn make() -> Certificate {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = run_command(
            Command::new(installed_program("openssl", "openssl"))
                .args([
                    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                ])
                .args(["-subj", "/CN=127.0.0.1", "-keyout"])
                .arg(dir.path().join("key.pem"))
                .arg("-out")
                .arg(dir.path().join("cert.pem")),
            b"",
            COMMAND_TIMEOUT,
        );
        assert!(
            out.status.success(),
            "openssl req failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Certificate { dir }
    }

    fn cert(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }

    fn key(&self) -> PathBuf {
        self.dir.path().join("key.pem")
    }
}

/// The proftpd.conf of one node. mod_ban is loaded first: ProFTPD runs
/// the session initialisers of the last-loaded modules first, and mod_ban
/// checks the client's address against the cache in its own, which with
/// mod_memcache loaded first runs before mod_memcache has set up the
/// session's connection ("Transport endpoint is not connected", so the
/// check always misses).
fn config(
    name: &str,
    dir: &Path,
    port: u16,
    door: Door,
    cache_port: u16,
    cert: &Certificate,
) -> String {
    let d = dir.display();
    let cache = match door {
        Door::Redis => format!(
            "LoadModule mod_redis.c\n\
             LoadModule mod_tls.c\n\
             LoadModule mod_tls_redis.c\n\
             RedisEngine on\n\
             RedisServer 127.0.0.1:{cache_port}\n\
             RedisLog {d}/redis.log\n\
             TLSSessionCache redis:\n\
             BanCache redis\n"
        ),
        Door::Memcache => format!(
            "LoadModule mod_memcache.c\n\
             LoadModule mod_tls.c\n\
             LoadModule mod_tls_memcache.c\n\
             MemcacheEngine on\n\
             MemcacheServers 127.0.0.1:{cache_port}\n\
             MemcacheLog {d}/memcache.log\n\
             TLSSessionCache memcache:\n\
             BanCache memcache\n"
        ),
    };
    format!(
        "ServerType standalone\n\
         ServerName \"node {name}\"\n\
         Port {port}\n\
         DefaultAddress 127.0.0.1\n\
         SocketBindTight on\n\
         UseIPv6 off\n\
         UseReverseDNS off\n\
         WtmpLog off\n\
         DelayEngine off\n\
         User nobody\n\
         Group nogroup\n\
         MaxInstances 30\n\
         PidFile {d}/proftpd.pid\n\
         ScoreboardFile {d}/proftpd.scoreboard\n\
         SystemLog {d}/system.log\n\
         TraceLog {d}/trace.log\n\
         Trace DEFAULT:0 redis:20 memcache:20 tls:9 ban:9\n\
         ModulePath /usr/lib/proftpd\n\
         LoadModule mod_ban.c\n\
         {cache}\
         TLSEngine on\n\
         TLSLog {d}/tls.log\n\
         TLSProtocol TLSv1.2\n\
         TLSSessionTickets off\n\
         TLSRSACertificateFile {cert}\n\
         TLSRSACertificateKeyFile {key}\n\
         TLSVerifyClient off\n\
         BanEngine on\n\
         BanLog {d}/ban.log\n\
         BanTable {d}/ban.tab\n\
         BanMessage \"Host %a has been banned\"\n\
         MaxLoginAttempts 1\n\
         BanOnEvent MaxLoginAttempts 1/00:01:00 00:10:00\n",
        cert = cert.cert().display(),
        key = cert.key().display(),
    )
}

/// One ProFTPD node in the foreground (`proftpd -n`), stopped with SIGTERM
/// when dropped.
struct Node {
    name: &'static str,
    port: u16,
    daemon: Daemon,
}

impl Node {
    fn start(name: &'static str, door: Door, cache_port: u16, cert: &Certificate) -> Node {
        let proftpd = installed_program("proftpd", "proftpd-core");
        let mut last = String::new();
        // The port was free when picked; if something took it meanwhile,
        // proftpd exits and we pick again.
        for _ in 0..3 {
            let port = free_port();
            let dir = tempfile::tempdir().expect("tempdir");
            let conf = dir.path().join("proftpd.conf");
            std::fs::write(
                &conf,
                config(name, dir.path(), port, door, cache_port, cert),
            )
            .expect("write proftpd.conf");
            let args = vec![
                "-n".to_string(),
                "-q".to_string(),
                "-c".to_string(),
                conf.display().to_string(),
            ];
            match std::panic::catch_unwind(AssertUnwindSafe(|| {
                Daemon::start_program(&proftpd, dir, &args, &tcp_address(port))
            })) {
                Ok(daemon) => {
                    let node = Node { name, port, daemon };
                    // The readiness probe's session runs its cache lookups
                    // after the probe hung up.
                    node.wait_idle();
                    return node;
                }
                Err(e) => {
                    last = e.downcast_ref::<String>().cloned().unwrap_or_default();
                }
            }
        }
        panic!("could not start proftpd node {name}: {last}");
    }

    /// Waits until no session of the node is running. ProFTPD opens its
    /// cache connection in the daemon and every forked session inherits
    /// that one socket (CONSUMERS.md, 3a), so two sessions at once can read
    /// each other's replies: a session that starts while another one is
    /// still at its lookups may see a ban or a session that was not its
    /// own, or none. Each step of a test starts on an idle node.
    fn wait_idle(&self) {
        assert!(
            self.daemon.wait_no_children(IO_TIMEOUT),
            "node {}: sessions {:?} still running after {IO_TIMEOUT:?}\n{}",
            self.name,
            self.daemon.children(),
            self.logs()
        );
    }

    /// The node's logs, for failure messages.
    fn logs(&self) -> String {
        let mut text = format!(
            "--- node {} (port {}) stderr:\n{}",
            self.name,
            self.port,
            tail(&self.daemon.stderr())
        );
        for log in [
            "system.log",
            "tls.log",
            "ban.log",
            "redis.log",
            "memcache.log",
            "trace.log",
        ] {
            if let Ok(s) = std::fs::read_to_string(self.daemon.dir().join(log)) {
                text.push_str(&format!("--- node {} {log}:\n{}", self.name, tail(&s)));
            }
        }
        text
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // SIGTERM lets mod_ban remove its SysV shared memory segment; the
        // harness kills whatever is left.
        self.daemon.signal(Signal::SIGTERM);
        let _ = self.daemon.wait_exit(STOP_TIMEOUT);
    }
}

fn tail(s: &str) -> &str {
    const KEEP: usize = 6000;
    let mut start = s.len().saturating_sub(KEEP);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

/// Two nodes on one cache.
struct Fleet {
    a: Node,
    b: Node,
    cache: Cache,
    _cert: Certificate,
    sessions: tempfile::TempDir,
}

impl Fleet {
    fn start(door: Door) -> Fleet {
        let (cache, cache_port) = Cache::start(door);
        Fleet::with(door, cache, cache_port, cache_port)
    }

    /// Two nodes, each through its own dc_client.
    fn with_sidecars(door: Door) -> Fleet {
        let (cache, port_a, port_b) = Cache::sidecars(door);
        Fleet::with(door, cache, port_a, port_b)
    }

    fn with(door: Door, cache: Cache, port_a: u16, port_b: u16) -> Fleet {
        let cert = Certificate::make();
        let a = Node::start("a", door, port_a, &cert);
        let b = Node::start("b", door, port_b, &cert);
        Fleet {
            a,
            b,
            cache,
            _cert: cert,
            sessions: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// Everything the processes logged, for failure messages.
    fn logs(&self) -> String {
        format!(
            "{}\n{}\n--- cache stderr:\n{}",
            self.a.logs(),
            self.b.logs(),
            tail(&self.cache.stderr())
        )
    }

    /// `openssl s_client -starttls ftp -tls1_2` against `node`, saving its
    /// session to `file` (`-sess_out`) or offering the session in it
    /// (`-sess_in`). Returns whether the session was "New" or "Reused" and
    /// its id.
    fn handshake(&self, node: &Node, sess: &str, file: &str) -> (String, String) {
        node.wait_idle();
        let out = run_command(
            Command::new(installed_program("openssl", "openssl"))
                .args(["s_client", "-connect"])
                .arg(format!("127.0.0.1:{}", node.port))
                .args(["-starttls", "ftp", "-tls1_2", sess])
                .arg(self.sessions.path().join(file)),
            b"",
            COMMAND_TIMEOUT,
        );
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let kind = text
            .lines()
            .find_map(|l| {
                ["New,", "Reused,"]
                    .into_iter()
                    .find(|k| l.starts_with(k))
                    .map(|k| k.trim_end_matches(',').to_string())
            })
            .unwrap_or_else(|| {
                panic!(
                    "s_client {sess} {file} against node {}: no handshake summary\nstdout:\n{text}\nstderr:\n{}\n{}",
                    node.name,
                    String::from_utf8_lossy(&out.stderr),
                    self.logs()
                )
            });
        let id = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("Session-ID:"))
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        (kind, id)
    }

    /// A session made on `from` is resumed on `to`.
    fn resumes(&self, from: &Node, to: &Node, file: &str) {
        let (kind, made) = self.handshake(from, "-sess_out", file);
        assert_eq!(kind, "New", "first handshake on node {}", from.name);
        assert!(
            !made.is_empty(),
            "node {} gave the session an id",
            from.name
        );
        let (kind, resumed) = self.handshake(to, "-sess_in", file);
        assert_eq!(
            kind,
            "Reused",
            "node {} did not resume node {}'s session {made}\n{}",
            to.name,
            from.name,
            self.logs()
        );
        assert_eq!(resumed, made);
    }
}

/// A control connection: the greeting, then command by command.
struct Ftp {
    reader: BufReader<TcpStream>,
}

impl Ftp {
    fn connect(node: &Node) -> Ftp {
        node.wait_idle();
        let stream = TcpStream::connect_timeout(
            &format!("127.0.0.1:{}", node.port).parse().unwrap(),
            IO_TIMEOUT,
        )
        .unwrap_or_else(|e| panic!("connect to node {}: {e}", node.name));
        stream.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
        Ftp {
            reader: BufReader::new(stream),
        }
    }

    /// One reply, multi-line replies joined; empty at EOF.
    fn reply(&mut self) -> String {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            match self.reader.read_line(&mut line) {
                Ok(0) => return all,
                Ok(_) => {}
                Err(e) => panic!("reading a reply: {e} (so far {all:?})"),
            }
            all.push_str(&line);
            // "220-..." continues, "220 ..." ends a reply.
            let b = line.as_bytes();
            if b.len() >= 4 && b[..3].iter().all(u8::is_ascii_digit) && b[3] == b' ' {
                return all;
            }
        }
    }

    fn command(&mut self, line: &str) -> String {
        self.reader
            .get_mut()
            .write_all(format!("{line}\r\n").as_bytes())
            .expect("send");
        self.reply()
    }

    /// Everything until the server closes, or `<still open>` appended if it
    /// does not within the read timeout.
    fn rest(&mut self) -> String {
        let mut text = String::new();
        match self.reader.read_to_string(&mut text) {
            Ok(_) => text,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => text,
            // Still open after the read timeout: the caller's assertion
            // says what was expected instead.
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                text + "<still open>"
            }
            Err(e) => panic!("reading until the server closes: {e} (got {text:?})"),
        }
    }
}

fn tls_sessions_are_shared(fleet: Fleet) {
    fleet.resumes(&fleet.a, &fleet.b, "made-on-a");
    fleet.resumes(&fleet.b, &fleet.a, "made-on-b");
}

fn bans_are_shared(fleet: Fleet) {
    let (a, b) = (&fleet.a, &fleet.b);
    let expect = |what: &str, reply: String, start: &str| {
        assert!(
            reply.starts_with(start),
            "{what}: expected {start:?}, got {reply:?}\n{}",
            fleet.logs()
        );
    };

    // B lets 127.0.0.1 in before the ban.
    let mut ftp = Ftp::connect(b);
    expect("node b's greeting before the ban", ftp.reply(), "220 ");
    expect("QUIT on node b", ftp.command("QUIT"), "221");

    // One failed login on A bans 127.0.0.1 there; mod_ban stores the ban
    // in the cache before it tells the client and closes.
    let mut ftp = Ftp::connect(a);
    expect("node a's greeting", ftp.reply(), "220 ");
    expect("USER on node a", ftp.command("USER nosuchuser"), "331");
    expect("PASS on node a", ftp.command("PASS wrong"), "530");
    expect(
        "node a after the failed login",
        ftp.rest(),
        "530 Host 127.0.0.1 has been banned\r\n",
    );

    // B's own ban table is empty: only the cache can tell it. It refuses
    // before its greeting.
    expect(
        "node b after the ban on node a",
        Ftp::connect(b).rest(),
        "530 Host 127.0.0.1 has been banned\r\n",
    );
}

#[test]
fn tls_sessions_are_shared_over_redis() {
    tls_sessions_are_shared(Fleet::start(Door::Redis));
}

#[test]
fn tls_sessions_are_shared_over_memcache() {
    tls_sessions_are_shared(Fleet::start(Door::Memcache));
}

#[test]
fn bans_are_shared_over_redis() {
    bans_are_shared(Fleet::start(Door::Redis));
}

#[test]
fn bans_are_shared_over_memcache() {
    bans_are_shared(Fleet::start(Door::Memcache));
}

#[test]
fn tls_sessions_are_shared_over_redis_through_each_nodes_dc_client() {
    tls_sessions_are_shared(Fleet::with_sidecars(Door::Redis));
}

#[test]
fn tls_sessions_are_shared_over_memcache_through_each_nodes_dc_client() {
    tls_sessions_are_shared(Fleet::with_sidecars(Door::Memcache));
}

#[test]
fn bans_are_shared_over_redis_through_each_nodes_dc_client() {
    bans_are_shared(Fleet::with_sidecars(Door::Redis));
}

#[test]
fn bans_are_shared_over_memcache_through_each_nodes_dc_client() {
    bans_are_shared(Fleet::with_sidecars(Door::Memcache));
}
