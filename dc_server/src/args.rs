//! dc_server's command line: the original's options, single-dash or
//! double-dash.

use std::path::PathBuf;

use clap::Parser;

/// Sessions held by default. The original's 512 dates from 2004 memory
/// sizes; a modern cache host holds far more, and the byte cap below bounds
/// the memory either way.
pub const DEFAULT_SESSIONS: usize = 100_000;
/// Session bytes (ids and data) held by default, in MiB.
pub const DEFAULT_MEMORY_MIB: usize = 256;
/// Longest lifetime of an entry by default: a day.
pub const DEFAULT_MAX_TTL_SECS: u64 = 86_400;

/// The distcache SSL/TLS session cache server.
///
/// Stores SSL/TLS sessions for a fleet of TLS servers, over TCP or a unix
/// socket, speaking the distcache 1.x protocol byte for byte; -listen-redis
/// and -listen-memcache also serve RESP2 and the memcache protocol, for the
/// cache modules Apache and ProFTPD ship. Sessions are held in memory only.
/// Options take one dash or two (-listen or --listen).
//
// The doc comment is the help's text (-h shows its first line, --help all
// of it) and the man page's NAME and DESCRIPTION (dc_docgen).
#[derive(Debug, Parser)]
#[command(name = "dc_server", version)]
#[command(
    after_help = format!("Examples:\n  dc_server -listen IP:9001 -sessions 200000\n  \
dc_server -listen /run/dc.sock -listen-redis 127.0.0.1:6379 -listen-memcache 127.0.0.1:11211\n  \
dc_server -listen :9001 -metrics 127.0.0.1:9101\n{}", nal::ADDRESS_HELP)
)]
#[command(group(clap::ArgGroup::new("listeners").required(true).multiple(true)
    .args(["listen", "listen_redis", "listen_memcache"])))]
pub struct Args {
    /// Address to serve distcache 1.x on, e.g. IP:9001, :9001 or /run/dcache.sock
    /// (repeatable; at least one of -listen, -listen-redis, -listen-memcache)
    #[arg(long, value_name = "ADDR")]
    pub listen: Vec<String>,

    /// Address to serve RESP2 (the Redis protocol) on, for Apache
    /// mod_socache_redis, ProFTPD mod_tls_redis and mod_ban (repeatable)
    #[arg(long = "listen-redis", value_name = "ADDR")]
    pub listen_redis: Vec<String>,

    /// Address to serve the memcache protocol (text and binary) on, for
    /// Apache mod_socache_memcache and ProFTPD mod_tls_memcache (repeatable)
    #[arg(long = "listen-memcache", value_name = "ADDR")]
    pub listen_memcache: Vec<String>,

    /// Password that RESP clients must AUTH with (PING, INFO and QUIT are
    /// allowed before). Visible in the process list: prefer
    /// -redis-password-file
    #[arg(long, value_name = "PASS", conflicts_with = "redis_password_file")]
    pub requirepass: Option<String>,

    /// File holding the RESP password (its first line)
    #[arg(long = "redis-password-file", value_name = "FILE")]
    pub redis_password_file: Option<PathBuf>,

    /// Longest lifetime of any entry, in seconds, whatever a client asked
    /// for (no expiry, 55 years, a week): a session cache keeps nothing
    /// forever
    #[arg(long = "max-ttl", value_name = "SECS", default_value_t = DEFAULT_MAX_TTL_SECS,
          value_parser = clap::value_parser!(u64).range(1..=315_360_000))]
    pub max_ttl: u64,

    /// Most sessions held; when full, the ones due to expire soonest are
    /// evicted (a batch of 1/30th of the capacity at a time, as the original)
    #[arg(long, value_name = "N", default_value_t = DEFAULT_SESSIONS,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1_000_000_000))]
    pub sessions: usize,

    /// Most session data (ids and data bytes) held, in MiB (at least 1).
    /// The process stays within this plus the connections' buffers
    /// (352 KiB each at the default -max-buffer) plus a tenth: see
    /// docs/server.md, Memory
    #[arg(long, value_name = "MIB", default_value_t = DEFAULT_MEMORY_MIB,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1_048_576))]
    pub memory: usize,

    /// Also log the activity line whenever the operation count crosses a
    /// multiple of N (0: only when the number of sessions changes, at most
    /// once a second)
    #[arg(long, value_name = "N", default_value_t = 0,
          value_parser = clap::value_parser!(u64).range(0..=1_000_000_000))]
    pub progress: u64,

    /// Warm restart: write every live session (with its remaining lifetime
    /// and flags) to FILE on a clean stop (SIGTERM, SIGINT, or SIGUSR1/2
    /// with -killable), and load it back at start, before serving. The
    /// file is mode 0600 and belongs to the -user; its directory must be
    /// writable by that user (FILE.tmp is written there, and the snapshot
    /// a new one replaces stays as FILE.old until the next start). A
    /// damaged file is set aside as FILE.bad-<unix time> and the server
    /// starts empty
    #[arg(long, value_name = "FILE")]
    pub snapshot: Option<PathBuf>,

    /// Also write the -snapshot every SECS seconds while serving, so that a
    /// crash (kill -9) loses at most that much
    #[arg(long = "snapshot-interval", value_name = "SECS", requires = "snapshot",
          value_parser = clap::value_parser!(u64).range(1..=31_536_000))]
    pub snapshot_interval: Option<u64>,

    /// Refuse to start (exit 1) when the -snapshot file is damaged, foreign
    /// or of another version, instead of setting it aside and starting
    /// empty (a missing file is still a first start)
    #[arg(long = "snapshot-strict", requires = "snapshot")]
    pub snapshot_strict: bool,

    #[command(flatten)]
    pub service: dc_service::ServiceArgs,

    /// Most client connections served at once (lowered at start, with a
    /// notice, to what the open files limit allows). When all are open, an
    /// idle one is closed to let a newcomer in (one that never sent
    /// anything first, else the one idle longest); if every one is busy,
    /// the newcomer is closed
    #[arg(long, value_name = "N", default_value_t = dc_engine::server::DEFAULT_MAX_CONNECTIONS,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=10_000_000))]
    pub max_connections: usize,

    /// Answers a client may leave unread, in KiB, before its further
    /// requests are held back until it reads
    #[arg(long, value_name = "KIB", default_value_t = dc_engine::server::DEFAULT_MAX_BUFFER / 1024,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1_048_576))]
    pub max_buffer: usize,

    /// Close client connections that send nothing for this many seconds
    /// (0: never, the default: persistent clients may idle for hours)
    #[arg(long, value_name = "SECS", default_value_t = 0,
          value_parser = clap::value_parser!(u64).range(0..=31_536_000))]
    pub idle_timeout: u64,

    /// Worker threads serving connections (0: one per CPU this process may
    /// run on, so `taskset -c 0 dc_server ...` gets one). With more than
    /// one, the store is split into shards that the threads share.
    #[arg(long, value_name = "N", default_value_t = 0,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(0..=dc_engine::server::MAX_THREADS as u64))]
    pub threads: usize,

    /// Serve Prometheus metrics over HTTP at ADDR (TCP, e.g. 127.0.0.1:9101
    /// or :9101), path /metrics
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<String>,

    /// TLS: this server's certificate chain (PEM). With -tls-key and
    /// -tls-ca, only TLS clients whose certificate chains to the CA are
    /// served; without, plain TCP as the original
    #[arg(long = "tls-cert", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,

    /// TLS: this server's private key (PEM)
    #[arg(long = "tls-key", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,

    /// TLS: the CA (PEM) that client certificates must chain to
    #[arg(long = "tls-ca", value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        dc_cli::try_parse_from(std::iter::once("dc_server").chain(args.iter().copied()))
    }

    #[test]
    fn the_original_command_line_is_accepted() {
        let a = parse(&[
            "-listen",
            "IP:9001",
            "-sessions",
            "10000",
            "-progress",
            "1000",
            "-pidfile",
            "f",
            "-daemon",
            "-user",
            "u",
            "-sockowner",
            "u",
            "-sockgroup",
            "g",
            "-sockperms",
            "660",
            "-killable",
        ])
        .unwrap();
        assert_eq!(a.listen, ["IP:9001"]);
        assert_eq!(a.sessions, 10000);
        assert_eq!(a.progress, 1000);
        assert_eq!(a.service.sockperms, Some(0o660));
        assert!(a.service.daemon && a.service.killable);
    }

    #[test]
    fn defaults_and_gnu_style() {
        let a = parse(&["--listen", "UNIX:/tmp/x"]).unwrap();
        assert_eq!(a.sessions, DEFAULT_SESSIONS);
        assert_eq!(a.memory, DEFAULT_MEMORY_MIB);
        assert_eq!(a.progress, 0);
        assert_eq!(a.threads, 0);
        assert!(!a.service.daemon);
        assert_eq!(a.max_ttl, DEFAULT_MAX_TTL_SECS);
    }

    #[test]
    fn any_front_door_may_be_given_alone_and_each_repeated() {
        let a = parse(&[
            "-listen-redis",
            "IP:127.0.0.1:6379",
            "--listen-redis",
            "UNIX:/tmp/r",
            "-listen-memcache",
            "IP:11211",
        ])
        .unwrap();
        assert!(a.listen.is_empty());
        assert_eq!(a.listen_redis.len(), 2);
        assert_eq!(a.listen_memcache, ["IP:11211"]);
        assert!(parse(&[
            "-requirepass",
            "x",
            "-redis-password-file",
            "f",
            "-listen",
            "IP:1"
        ])
        .is_err());
    }

    #[test]
    fn bad_values_are_refused_by_name() {
        for (args, needle) in [
            (&["-listen", "IP:1", "-sessions", "0"][..], "0"),
            (&["-listen", "IP:1", "-sessions", "abc"][..], "abc"),
            (&["-listen", "IP:1", "-sockperms", "999"][..], "999"),
            (&["-listen", "IP:1", "-threads", "65"][..], "65"),
            (&["-sessions", "5"][..], "--listen"),
            (&["-listen", "IP:1", "-max-ttl", "0"][..], "0"),
            (
                &["-listen", "IP:1", "-snapshot-interval", "5"][..],
                "--snapshot",
            ),
            (
                &[
                    "-listen",
                    "IP:1",
                    "-snapshot",
                    "f",
                    "-snapshot-interval",
                    "0",
                ][..],
                "0",
            ),
            (&["-listen", "IP:1", "-snapshot-strict"][..], "--snapshot"),
        ] {
            let e = parse(args).unwrap_err();
            let line = dc_cli::error_line(&e);
            assert!(line.contains(needle), "{args:?}: {line}");
        }
    }
}
