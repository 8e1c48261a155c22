//! dc_client's command line: the original's options, single-dash or
//! double-dash, plus `-timeout`, `-max-clients`, `-metrics` and the TLS
//! options.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use dc_proxy::mux::{DEFAULT_MAX_CLIENTS, DEFAULT_RETRY, DEFAULT_TIMEOUT};
use dc_proxy::MuxConfig;

/// Where local clients connect by default, as the original.
pub const DEFAULT_LISTEN: &str = "UNIX:/tmp/scache";
/// Longest `-retry`, `-idle` and `-timeout`: one hour, as the original's
/// limit on `-retry` and `-idle`.
pub const MAX_MS: u64 = 3_600_000;

/// The local multiplexing proxy in front of dc_server.
///
/// Every TLS server process on a node talks to its local dc_client (usually
/// over a unix socket); dc_client carries all of their cache requests over
/// one persistent connection to dc_server. While the server cannot be
/// reached, every request is answered at once with DISCONNECTED (0x02), so
/// TLS servers fall back to a full handshake without waiting. Options take
/// one dash or two (-server or --server).
//
// The doc comment is the help's text (-h shows its first line, --help all
// of it) and the man page's NAME and DESCRIPTION (dc_docgen).
#[derive(Debug, Parser)]
#[command(name = "dc_client", version)]
#[command(
    after_help = format!("Examples:\n  dc_client -listen UNIX:/tmp/scache -server IP:cachehost:9001\n  \
dc_client -listen /run/dc_client.sock -server cachehost:9001 -metrics 127.0.0.1:9102\n{}",
        nal::ADDRESS_HELP)
)]
pub struct Args {
    /// Address local clients connect to
    #[arg(long, value_name = "ADDR", default_value = DEFAULT_LISTEN)]
    pub listen: String,

    /// Address of the cache server (required), e.g. IP:cachehost:9001 or
    /// cachehost:9001
    #[arg(long, value_name = "ADDR", action = clap::ArgAction::Append)]
    pub server: Vec<String>,

    /// Same as -server
    #[arg(long, value_name = "ADDR", action = clap::ArgAction::Append)]
    pub connect: Vec<String>,

    /// Longest pause between attempts to (re)connect to the server, in ms:
    /// after a loss they start at once and back off from 1 ms (at most
    /// 100 ms apart for the first 10 s)
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
    /// using a CPU the waiting application leaves idle
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
    /// The one server address given, as the original requires.
    pub fn server(&self) -> Result<&str, &'static str> {
        let mut all = self.server.iter().chain(&self.connect);
        match (all.next(), all.next()) {
            (None, _) => Err("no server specified!"),
            (Some(server), None) => Ok(server),
            (Some(_), Some(_)) => Err("too many servers"),
        }
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
        assert_eq!(a.listen, "UNIX:/tmp/x");
        assert_eq!(a.server(), Ok("IP:cachehost:9001"));
        let mux = a.mux_config();
        assert_eq!(mux.retry, Duration::from_millis(250));
        assert_eq!(mux.idle, Some(Duration::from_millis(3000)));
        assert_eq!(a.service.sockperms, Some(0o660));
        assert!(a.service.daemon && a.service.killable);
    }

    #[test]
    fn defaults_are_the_originals() {
        let a = parse(&["--connect", "UNIX:/tmp/dc"]).unwrap();
        assert_eq!(a.listen, "UNIX:/tmp/scache");
        assert_eq!(a.server(), Ok("UNIX:/tmp/dc"));
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
    fn exactly_one_server() {
        assert_eq!(parse(&[]).unwrap().server(), Err("no server specified!"));
        for args in [
            &["-server", "IP:a:1", "-connect", "IP:b:2"][..],
            &["-server", "IP:a:1", "-server", "IP:b:2"][..],
        ] {
            assert_eq!(parse(args).unwrap().server(), Err("too many servers"));
        }
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
            (&["-sockperms", "999"][..], "999"),
        ] {
            let e = parse(args).unwrap_err();
            let line = dc_cli::error_line(&e);
            assert!(line.starts_with("Error, "), "{args:?}: {line}");
            assert!(line.contains(needle), "{args:?}: {line}");
        }
    }
}
