//! dc_client's command line: the original's options, single-dash or
//! double-dash, plus `-timeout`, `-max-clients`, `-metrics`, the TLS
//! options, the RESP and memcache front doors and the server pool
//! (`-server` repeated, `-replicas`).

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use dc_proxy::mux::{DEFAULT_MAX_CLIENTS, DEFAULT_RETRY, DEFAULT_TIMEOUT, MAX_SERVERS};
use dc_proxy::MuxConfig;

/// Where local clients connect by default, as the original.
pub const DEFAULT_LISTEN: &str = "UNIX:/tmp/scache";
/// Longest `-retry`, `-idle` and `-timeout`: one hour, as the original's
/// limit on `-retry` and `-idle`.
pub const MAX_MS: u64 = 3_600_000;

/// The local multiplexing proxy in front of dc_server.
///
/// Every TLS server process on a node talks to its local dc_client (usually
/// over a unix socket), in distcache 1.x, RESP (Redis) or memcache;
/// dc_client carries all of their cache requests over one persistent
/// connection to each dc_server. With several -server, each key lives on
/// the servers that follow it on a consistent-hash ring (ketama), on
/// -replicas of them. While no server can answer, every request is
/// answered at once with its protocol's failure (DISCONNECTED, -ERR,
/// SERVER_ERROR), so TLS servers fall back to a full handshake without
/// waiting. Options take one dash or two (-server or --server).
//
// The doc comment is the help's text (-h shows its first line, --help all
// of it) and the man page's NAME and DESCRIPTION (dc_docgen).
#[derive(Debug, Parser)]
#[command(name = "dc_client", version)]
#[command(
    after_help = format!("Examples:\n  dc_client -listen UNIX:/tmp/scache -server IP:cachehost:9001\n  \
dc_client -listen /run/dc_client.sock -server cachehost:9001 -metrics 127.0.0.1:9102\n  \
dc_client -listen-redis /run/dc_redis.sock -listen-memcache /run/dc_memcache.sock \\\n    \
-server cache1:9001 -server cache2:9001 -server cache3:9001 -replicas 2\n{}",
        nal::ADDRESS_HELP)
)]
pub struct Args {
    /// Address local clients connect to in distcache 1.x (repeatable;
    /// UNIX:/tmp/scache when no listener at all is given)
    #[arg(long, value_name = "ADDR")]
    pub listen: Vec<String>,

    /// Address local clients connect to in RESP2 (the Redis protocol), for
    /// Apache mod_socache_redis, ProFTPD mod_tls_redis and mod_ban
    /// (repeatable)
    #[arg(long = "listen-redis", value_name = "ADDR")]
    pub listen_redis: Vec<String>,

    /// Address local clients connect to in the memcache protocol (text and
    /// binary), for Apache mod_socache_memcache and ProFTPD
    /// mod_tls_memcache (repeatable)
    #[arg(long = "listen-memcache", value_name = "ADDR")]
    pub listen_memcache: Vec<String>,

    /// File holding the password RESP clients must AUTH with (its first
    /// line; PING, INFO and QUIT are allowed before)
    #[arg(long = "redis-password-file", value_name = "FILE")]
    pub redis_password_file: Option<PathBuf>,

    /// Address of a cache server (required), e.g. IP:cachehost:9001 or
    /// cachehost:9001. Repeat it for a pool: each key goes to the server
    /// that owns it on a ketama ring (adding or removing one of N servers
    /// moves about 1/N of the keys). A Redis or Valkey backend instead:
    /// redis://host:port[/db], redis+sentinel://h1:26379,h2:26379/MASTER,
    /// redis+cluster://h1:p1,h2:p2 (rediss... for TLS)
    #[arg(long, value_name = "ADDR", action = clap::ArgAction::Append)]
    pub server: Vec<String>,

    /// Same as -server
    #[arg(long, value_name = "ADDR", action = clap::ArgAction::Append)]
    pub connect: Vec<String>,

    /// Servers of the pool that hold each key. A write goes to all of them
    /// and is answered when the first accepts it; a read asks them in
    /// turn, so losing any R-1 servers loses no session
    #[arg(long, value_name = "R", default_value_t = 1,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=MAX_SERVERS as u64))]
    pub replicas: usize,

    /// Longest pause between attempts to (re)connect to the server, in ms:
    /// after a loss they start at once and back off from 1 ms (at most
    /// 50 ms apart for the first 10 s)
    #[arg(long, value_name = "MS", default_value_t = DEFAULT_RETRY.as_millis() as u64,
          value_parser = clap::value_parser!(u64).range(1..=MAX_MS))]
    pub retry: u64,

    /// Close local connections with no request in progress after this many
    /// ms without traffic (0: never)
    #[arg(long, value_name = "MS", default_value_t = 0,
          value_parser = clap::value_parser!(u64).range(0..=MAX_MS))]
    pub idle: u64,

    /// Give up on the server when a request waits this many ms for its
    /// answer (or a connect for completion): the waiting requests are
    /// answered DISCONNECTED and the connection is made again (0: wait for
    /// ever, as the original)
    #[arg(long, value_name = "MS", default_value_t = DEFAULT_TIMEOUT.as_millis() as u64,
          value_parser = clap::value_parser!(u64).range(0..=MAX_MS))]
    pub timeout: u64,

    /// While answers are awaited from the server, poll for them without
    /// sleeping for up to this many microseconds before blocking (0: always
    /// block). Saves the wake-up that is most of a forwarded request's cost,
    /// using a CPU the waiting application leaves idle. When dc_client may
    /// use one CPU only (taskset, a cgroup quota), it spins only while
    /// every local client waits for an answer: another may need that CPU
    #[arg(long = "spin-us", value_name = "US", default_value_t = dc_proxy::DEFAULT_SPIN.as_micros() as u64,
          value_parser = clap::value_parser!(u64).range(0..=10_000))]
    pub spin_us: u64,

    /// Most local connections at once (lowered at start, with a notice, to
    /// what the open files limit allows). When all are open, an idle one is
    /// closed to let a newcomer in (one that never sent anything first,
    /// else the one idle longest); if every one is busy, the newcomer is
    /// closed
    #[arg(long = "max-clients", value_name = "N", default_value_t = DEFAULT_MAX_CLIENTS,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1_000_000))]
    pub max_clients: usize,

    /// File holding the password for the Redis backend (its first line;
    /// never on the command line)
    #[arg(long = "backend-password-file", value_name = "FILE")]
    pub backend_password_file: Option<PathBuf>,

    /// For a Redis backend over TLS (rediss...): the CA certificates (PEM)
    /// its servers' certificates must chain to (default: the system's
    /// trust store)
    #[arg(long = "backend-tls-ca", value_name = "FILE")]
    pub backend_tls_ca: Option<PathBuf>,

    /// Put this before every key stored in the Redis backend, e.g. sess:
    /// (none by default: the keys are the applications' own, as if they
    /// talked to Redis directly)
    #[arg(long = "backend-prefix", value_name = "PREFIX", default_value = "")]
    pub backend_prefix: String,

    /// Longest lifetime of an entry in the Redis backend, in seconds,
    /// whatever a client asked for (and for one that asked for none)
    #[arg(long = "backend-max-ttl", value_name = "SECS", default_value_t = 86_400,
          value_parser = clap::value_parser!(u64).range(1..=315_360_000))]
    pub backend_max_ttl: u64,

    #[command(flatten)]
    pub service: dc_service::ServiceArgs,

    /// Serve Prometheus metrics over HTTP at ADDR (TCP, e.g. 127.0.0.1:9102
    /// or :9102), path /metrics
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<String>,

    /// TLS to the server: this client's certificate chain (PEM). With
    /// -tls-key and -tls-ca, the connection to the server (IP: only) is TLS
    /// with mutual authentication; the server's certificate must chain to
    /// the CA and name the -server host as a subjectAltName (DNS name or IP
    /// address). Without, plain TCP as the original
    #[arg(long = "tls-cert", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,

    /// TLS: this client's private key (PEM)
    #[arg(long = "tls-key", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,

    /// TLS: the CA (PEM) that the server's certificate must chain to
    #[arg(long = "tls-ca", value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
}

impl Args {
    /// The server addresses given (-server, then -connect), at least one
    /// (the original's error otherwise) and at most a pool's worth.
    pub fn servers(&self) -> Result<Vec<&str>, String> {
        let all: Vec<&str> = self
            .server
            .iter()
            .chain(&self.connect)
            .map(String::as_str)
            .collect();
        if all.is_empty() {
            return Err("no server specified!".to_owned());
        }
        if all.len() > MAX_SERVERS {
            return Err(format!(
                "{} servers given: a pool holds at most {MAX_SERVERS}",
                all.len()
            ));
        }
        for (i, a) in all.iter().enumerate() {
            if all[..i].contains(a) {
                return Err(format!("server \"{a}\" is given twice"));
            }
        }
        Ok(all)
    }

    /// The listeners, by protocol: `-listen` defaults to the original's
    /// socket only when no listener of any kind is given.
    pub fn listeners(&self) -> Vec<(&'static str, &str)> {
        let mut all: Vec<(&'static str, &str)> = Vec::new();
        all.extend(self.listen.iter().map(|a| ("-listen", a.as_str())));
        all.extend(
            self.listen_redis
                .iter()
                .map(|a| ("-listen-redis", a.as_str())),
        );
        all.extend(
            self.listen_memcache
                .iter()
                .map(|a| ("-listen-memcache", a.as_str())),
        );
        if all.is_empty() {
            all.push(("-listen", DEFAULT_LISTEN));
        }
        all
    }

    /// The TLS files, if TLS is asked for: all three options or none.
    pub fn tls_files(&self) -> Result<Option<dc_tls::TlsFiles>, dc_tls::TlsError> {
        dc_tls::TlsFiles::from_options(
            self.tls_cert.as_deref(),
            self.tls_key.as_deref(),
            self.tls_ca.as_deref(),
        )
    }

    /// The multiplexer's settings.
    pub fn mux_config(&self) -> MuxConfig {
        let ms = Duration::from_millis;
        MuxConfig {
            retry: ms(self.retry),
            timeout: (self.timeout > 0).then(|| ms(self.timeout)),
            idle: (self.idle > 0).then(|| ms(self.idle)),
            max_clients: self.max_clients,
            replicas: self.replicas,
            ..MuxConfig::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        dc_cli::try_parse_from(std::iter::once("dc_client").chain(args.iter().copied()))
    }

    #[test]
    fn the_original_command_line_is_accepted() {
        let a = parse(&[
            "-listen",
            "UNIX:/tmp/x",
            "-server",
            "IP:cachehost:9001",
            "-retry",
            "250",
            "-idle",
            "3000",
            "-daemon",
            "-user",
            "u",
            "-sockowner",
            "u",
            "-sockgroup",
            "g",
            "-sockperms",
            "660",
            "-pidfile",
            "f",
            "-logfile",
            "l",
            "-killable",
        ])
        .unwrap();
        assert_eq!(a.listeners(), [("-listen", "UNIX:/tmp/x")]);
        assert_eq!(a.servers(), Ok(vec!["IP:cachehost:9001"]));
        let mux = a.mux_config();
        assert_eq!(mux.retry, Duration::from_millis(250));
        assert_eq!(mux.idle, Some(Duration::from_millis(3000)));
        assert_eq!(a.service.sockperms, Some(0o660));
        assert!(a.service.daemon && a.service.killable);
    }

    #[test]
    fn defaults_are_the_originals() {
        let a = parse(&["--connect", "UNIX:/tmp/dc"]).unwrap();
        assert_eq!(a.listeners(), [("-listen", "UNIX:/tmp/scache")]);
        assert_eq!(a.servers(), Ok(vec!["UNIX:/tmp/dc"]));
        assert_eq!(a.mux_config().replicas, 1);
        let mux = a.mux_config();
        assert_eq!(mux.retry, Duration::from_millis(5000));
        assert_eq!(mux.idle, None);
        assert_eq!(mux.timeout, Some(DEFAULT_TIMEOUT));
        assert_eq!(mux.max_clients, 1024);
        assert_eq!(mux.first_uid, 1);
        assert_eq!(a.spin_us, 50);
        let a = parse(&["-server", "IP:h:1", "-timeout", "0", "-max-clients", "7"]).unwrap();
        assert_eq!(a.mux_config().timeout, None);
        assert_eq!(a.mux_config().max_clients, 7);
    }

    #[test]
    fn tls_options_are_all_or_nothing() {
        let a = parse(&["-server", "IP:h:1"]).unwrap();
        assert!(a.tls_files().unwrap().is_none());
        assert!(a.metrics.is_none());
        let a = parse(&[
            "-server",
            "IP:h:1",
            "-tls-cert",
            "c.pem",
            "--tls-key",
            "k.pem",
            "-tls-ca",
            "ca.pem",
            "-metrics",
            "IP:127.0.0.1:9102",
        ])
        .unwrap();
        let files = a.tls_files().unwrap().unwrap();
        assert_eq!(files.cert, PathBuf::from("c.pem"));
        assert_eq!(files.ca, PathBuf::from("ca.pem"));
        assert_eq!(a.metrics.as_deref(), Some("IP:127.0.0.1:9102"));
        let a = parse(&["-server", "IP:h:1", "-tls-key", "k.pem"]).unwrap();
        let e = a.tls_files().unwrap_err().to_string();
        assert!(e.contains("missing -tls-cert, -tls-ca"), "{e}");
    }

    #[test]
    fn a_pool_of_servers() {
        assert_eq!(
            parse(&[]).unwrap().servers(),
            Err("no server specified!".to_owned())
        );
        let a = parse(&["-server", "IP:a:1", "-connect", "IP:b:2", "-replicas", "2"]).unwrap();
        assert_eq!(a.servers(), Ok(vec!["IP:a:1", "IP:b:2"]));
        assert_eq!(a.mux_config().replicas, 2);
        let a = parse(&["-server", "IP:a:1", "-server", "IP:a:1"]).unwrap();
        assert!(a
            .servers()
            .unwrap_err()
            .contains("\"IP:a:1\" is given twice"));
        let many: Vec<String> = (0..65).map(|i| format!("IP:h:{}", i + 1)).collect();
        let mut args = Vec::new();
        for m in &many {
            args.extend(["-server", m.as_str()]);
        }
        assert!(parse(&args)
            .unwrap()
            .servers()
            .unwrap_err()
            .contains("at most 64"));
    }

    #[test]
    fn front_doors_replace_the_default_listener() {
        let a = parse(&[
            "-server",
            "IP:a:1",
            "-listen-redis",
            "/r",
            "-listen-memcache",
            "/m",
        ])
        .unwrap();
        assert_eq!(
            a.listeners(),
            [("-listen-redis", "/r"), ("-listen-memcache", "/m")]
        );
        let a = parse(&["-server", "IP:a:1", "-listen", "/d", "-listen-redis", "/r"]).unwrap();
        assert_eq!(a.listeners(), [("-listen", "/d"), ("-listen-redis", "/r")]);
    }

    #[test]
    fn numbers_are_parsed_strictly() {
        for (args, needle) in [
            (&["-retry", "0"][..], "0"),
            (&["-spin-us", "10001"][..], "10001"),
            (&["-retry", "3600001"][..], "3600001"),
            (&["-retry", "5s"][..], "5s"),
            (&["-idle", "-1"][..], "-1"),
            (&["-idle", "3600001"][..], "3600001"),
            (&["-timeout", "x"][..], "x"),
            (&["-max-clients", "0"][..], "0"),
            (&["-replicas", "0"][..], "0"),
            (&["-replicas", "65"][..], "65"),
            (&["-sockperms", "999"][..], "999"),
        ] {
            let e = parse(args).unwrap_err();
            let line = dc_cli::error_line(&e);
            assert!(line.starts_with("Error, "), "{args:?}: {line}");
            assert!(line.contains(needle), "{args:?}: {line}");
        }
    }
}
