//! The command line: the original's options, checked up front, plus the
//! load mode's (see [`crate::load::args`]). Giving any load option selects
//! the load mode; the verify-only options are then refused.

use clap::Parser;
use thiserror::Error;

use crate::load::args::{LoadArgs, LoadArgsError, LoadConfig, LOAD_OPTIONS};

/// Most sessions (the original's limit).
pub const MAX_SESSIONS: u32 = 512;
/// Shortest session data. GET answers under 5 bytes count as failures in
/// the client library (a 1-4 byte session cannot always be told from a
/// status code), so shorter sessions could never be fetched back.
pub const MIN_DATA: u32 = 5;
/// Longest session data (the original's limit).
pub const MAX_DATA: u32 = 4096;
/// Longest `-timeout` and `-timevar`, in seconds (the original's limit).
pub const MAX_TIMEOUT_S: u32 = 3600;
/// Most operations. The original allowed 1 000 000; long soak runs want
/// more.
pub const MAX_OPS: u64 = 100_000_000;
/// Largest `-progress` interval.
pub const MAX_PROGRESS: u64 = MAX_OPS;

/// Verify or load a distcache server or dc_client proxy.
///
/// Runs random ADD/REMOVE/GET/HAVE operations against a distcache server or
/// dc_client proxy and checks every answer against a model of what it
/// should hold. Any load option selects the load mode: many connections
/// with pipelined requests, every answer still checked, throughput and
/// latency measured.
//
// The doc comment is the help's text (-h shows its first line, --help all
// of it) and the man page's NAME and DESCRIPTION (dc_docgen). The limits
// are checked by `Args::validate`.
#[derive(Parser, Debug)]
#[command(
    name = "dc_test",
    version,
    after_help = format!("Options also work with a single dash, as in the original (-connect, -ops...).\n\
                  The model ignores expiry and eviction: keep -timeout minus -timevar longer than the run and \
                  -sessions within the server's cache size.\n\
                  Eg. dc_test -connect UNIX:/tmp/session_cache -sessions 10 -persistent\n\n\
                  Load mode: dc_test -connect 127.0.0.1:9001 -conns 16 -depth 16 -duration 10 -prefill\n\
                  checks every answer as well, and prints ops/s and latency percentiles (see docs/performance.md);\n\
                  add -plot run.svg for a chart of throughput and latency over the run.\n\n\
                  {}", nal::ADDRESS_HELP)
)]
pub struct Args {
    /// Server or proxy address (required): host:port, IP:host:port, a unix
    /// socket path or UNIX:/path.
    #[arg(long, value_name = "ADDR")]
    pub connect: Option<String>,
    /// Number of sessions to test with, 1 to 512.
    #[arg(long, value_name = "N", default_value_t = 10, conflicts_with_all = LOAD_OPTIONS)]
    pub sessions: u32,
    /// Shortest session data in bytes, at least 5.
    #[arg(long, value_name = "N", default_value_t = 50, conflicts_with_all = LOAD_OPTIONS)]
    pub datamin: u32,
    /// Session data is shorter than this, at most 4096 and above -datamin.
    #[arg(long, value_name = "N", default_value_t = 2100, conflicts_with_all = LOAD_OPTIONS)]
    pub datamax: u32,
    /// Lifetime of added sessions in seconds, at most 3600.
    #[arg(long, value_name = "SECS", default_value_t = 60, conflicts_with_all = LOAD_OPTIONS)]
    pub timeout: u32,
    /// Offset lifetimes randomly by up to +/- this many seconds; at most
    /// 3600 and below -timeout.
    #[arg(long, value_name = "SECS", default_value_t = 5, conflicts_with_all = LOAD_OPTIONS)]
    pub timevar: u32,
    /// Operations to run [default: 10 x sessions^2]; at most 100000000
    /// (the original allowed 1000000).
    #[arg(long, value_name = "N")]
    pub ops: Option<u64>,
    /// Report the operation count every N operations (0: never).
    #[arg(long, value_name = "N", default_value_t = 0, conflicts_with_all = LOAD_OPTIONS)]
    pub progress: u64,
    /// Use one persistent connection for all operations (otherwise one
    /// connection per operation).
    #[arg(long, conflicts_with_all = LOAD_OPTIONS)]
    pub persistent: bool,
    /// Not supported: sessions with client certificates need OpenSSL.
    #[arg(long, value_name = "N", num_args = 0..=1, default_missing_value = "", conflicts_with_all = LOAD_OPTIONS)]
    pub withcert: Option<String>,
    /// Seed for the random sessions and operations, to repeat a run. The
    /// server must not still hold the earlier run's sessions: restart it or
    /// wait out -timeout first.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// The load mode's options.
    #[command(flatten)]
    pub load: LoadArgs,
}

/// What to run.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    /// The original tool: random operations checked against a model.
    Verify(Config),
    /// Throughput and latency under load, every answer still checked.
    Load(LoadConfig),
}

/// A checked command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The `-connect` address, as given.
    pub connect: String,
    /// Number of sessions.
    pub sessions: usize,
    /// Session data lengths are drawn from `datamin..datamax`.
    pub datamin: usize,
    /// See `datamin`.
    pub datamax: usize,
    /// ADD lifetime in seconds.
    pub timeout_s: u32,
    /// ADD lifetime variation in seconds (strictly below `timeout_s`).
    pub timevar_s: u32,
    /// Operations to run.
    pub ops: u64,
    /// Progress interval (0: none).
    pub progress: u64,
    /// One persistent connection instead of one per operation.
    pub persistent: bool,
    /// Seed for the random generator, if one was given.
    pub seed: Option<u64>,
}

/// A command line that parsed but makes no sense.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ArgsError {
    /// `-withcert` was given.
    #[error("-withcert is not supported: client certificates need OpenSSL support, which this dc_test does not have (its sessions are random bytes)")]
    WithCert,
    /// `-connect` is missing.
    #[error("must provide -connect")]
    MissingConnect,
    /// `-sessions` out of range.
    #[error("-sessions {0} is out of range (1 to {MAX_SESSIONS})")]
    Sessions(u32),
    /// `-datamin` under [`MIN_DATA`].
    #[error("-datamin {0} is too small: it must be at least {MIN_DATA}, because GET answers shorter than 5 bytes count as failures (a 1-4 byte session cannot be told from a status code)")]
    DataMin(u32),
    /// `-datamax` over [`MAX_DATA`].
    #[error("-datamax {0} is too large (at most {MAX_DATA})")]
    DataMax(u32),
    /// `-datamax` not above `-datamin`.
    #[error("-datamax ({max}) must be greater than -datamin ({min}): data lengths are drawn from [datamin, datamax)")]
    DataRange {
        /// `-datamin`.
        min: u32,
        /// `-datamax`.
        max: u32,
    },
    /// `-timeout` over [`MAX_TIMEOUT_S`].
    #[error("-timeout {0} is too large (at most {MAX_TIMEOUT_S} seconds)")]
    Timeout(u32),
    /// `-timevar` over [`MAX_TIMEOUT_S`].
    #[error("-timevar {0} is too large (at most {MAX_TIMEOUT_S} seconds)")]
    Timevar(u32),
    /// `-timevar` not below `-timeout`.
    #[error("-timevar must be strictly smaller than -timeout (got -timevar {timevar}, -timeout {timeout})")]
    TimevarNotBelowTimeout {
        /// `-timevar`.
        timevar: u32,
        /// `-timeout`.
        timeout: u32,
    },
    /// `-ops` over [`MAX_OPS`].
    #[error("-ops {0} is too large (at most {MAX_OPS})")]
    Ops(u64),
    /// `-progress` over [`MAX_PROGRESS`].
    #[error("-progress {0} is too large (at most {MAX_PROGRESS})")]
    Progress(u64),
    /// A load-mode option makes no sense.
    #[error(transparent)]
    Load(#[from] LoadArgsError),
}

impl Args {
    /// The mode the options select, checked: load mode if any load option
    /// was given, the verify mode otherwise.
    pub fn mode(self) -> Result<Mode, ArgsError> {
        if self.load.selected() {
            let load = self.load.clone();
            Ok(Mode::Load(load.validate(
                self.connect,
                self.ops,
                self.seed,
            )?))
        } else {
            self.validate().map(Mode::Verify)
        }
    }

    /// Checks the limits and fills in the default `-ops`.
    pub fn validate(self) -> Result<Config, ArgsError> {
        if self.withcert.is_some() {
            return Err(ArgsError::WithCert);
        }
        let connect = self.connect.ok_or(ArgsError::MissingConnect)?;
        if !(1..=MAX_SESSIONS).contains(&self.sessions) {
            return Err(ArgsError::Sessions(self.sessions));
        }
        if self.timeout > MAX_TIMEOUT_S {
            return Err(ArgsError::Timeout(self.timeout));
        }
        if self.timevar > MAX_TIMEOUT_S {
            return Err(ArgsError::Timevar(self.timevar));
        }
        // Also keeps every ADD timeout at 1000 ms or more, over the client
        // library's 500 ms floor.
        if self.timevar >= self.timeout {
            return Err(ArgsError::TimevarNotBelowTimeout {
                timevar: self.timevar,
                timeout: self.timeout,
            });
        }
        if self.datamin < MIN_DATA {
            return Err(ArgsError::DataMin(self.datamin));
        }
        if self.datamax > MAX_DATA {
            return Err(ArgsError::DataMax(self.datamax));
        }
        if self.datamax <= self.datamin {
            return Err(ArgsError::DataRange {
                min: self.datamin,
                max: self.datamax,
            });
        }
        let sessions = u64::from(self.sessions);
        let ops = self.ops.unwrap_or(10 * sessions * sessions);
        if ops > MAX_OPS {
            return Err(ArgsError::Ops(ops));
        }
        if self.progress > MAX_PROGRESS {
            return Err(ArgsError::Progress(self.progress));
        }
        Ok(Config {
            connect,
            sessions: self.sessions as usize,
            datamin: self.datamin as usize,
            datamax: self.datamax as usize,
            timeout_s: self.timeout,
            timevar_s: self.timevar,
            ops,
            progress: self.progress,
            persistent: self.persistent,
            seed: self.seed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, ArgsError> {
        dc_cli::try_parse_from::<Args, _, _>(std::iter::once("dc_test").chain(args.iter().copied()))
            .unwrap()
            .validate()
    }

    fn with_connect(args: &[&str]) -> Result<Config, ArgsError> {
        let mut all = vec!["-connect", "IP:127.0.0.1:9001"];
        all.extend_from_slice(args);
        parse(&all)
    }

    #[test]
    fn defaults_are_the_originals() {
        let c = with_connect(&[]).unwrap();
        assert_eq!(
            c,
            Config {
                connect: "IP:127.0.0.1:9001".into(),
                sessions: 10,
                datamin: 50,
                datamax: 2100,
                timeout_s: 60,
                timevar_s: 5,
                ops: 1000,
                progress: 0,
                persistent: false,
                seed: None,
            }
        );
        let c = with_connect(&["-sessions", "3", "-persistent", "--seed", "7"]).unwrap();
        assert_eq!(
            (c.sessions, c.ops, c.persistent, c.seed),
            (3, 90, true, Some(7))
        );
        assert_eq!(with_connect(&["-sessions", "512"]).unwrap().ops, 2_621_440);
    }

    #[test]
    fn the_snoop_capture_command_line_parses() {
        let c = with_connect(&[
            "-sessions",
            "3",
            "-ops",
            "20",
            "-progress",
            "10",
            "-persistent",
        ])
        .unwrap();
        assert_eq!(
            (c.sessions, c.ops, c.progress, c.persistent),
            (3, 20, 10, true)
        );
    }

    #[test]
    fn limits() {
        use ArgsError::*;
        assert_eq!(parse(&[]), Err(MissingConnect));
        assert_eq!(with_connect(&["-sessions", "0"]), Err(Sessions(0)));
        assert_eq!(with_connect(&["-sessions", "513"]), Err(Sessions(513)));
        assert_eq!(with_connect(&["-datamin", "4"]), Err(DataMin(4)));
        assert!(with_connect(&["-datamin", "5", "-datamax", "6"]).is_ok());
        assert_eq!(with_connect(&["-datamax", "4097"]), Err(DataMax(4097)));
        assert!(with_connect(&["-datamax", "4096"]).is_ok());
        assert_eq!(
            with_connect(&["-datamin", "100", "-datamax", "100"]),
            Err(DataRange { min: 100, max: 100 })
        );
        assert_eq!(with_connect(&["-timeout", "3601"]), Err(Timeout(3601)));
        assert_eq!(with_connect(&["-timevar", "3601"]), Err(Timevar(3601)));
        assert_eq!(
            with_connect(&["-timeout", "5"]),
            Err(TimevarNotBelowTimeout {
                timevar: 5,
                timeout: 5
            })
        );
        assert!(with_connect(&["-timeout", "1", "-timevar", "0"]).is_ok());
        assert!(with_connect(&["-ops", "100000000"]).is_ok());
        assert_eq!(with_connect(&["-ops", "100000001"]), Err(Ops(100_000_001)));
        assert!(with_connect(&["-ops", "0"]).is_ok());
        assert_eq!(
            with_connect(&["-progress", "100000001"]),
            Err(Progress(100_000_001))
        );
        assert_eq!(with_connect(&["-withcert", "3"]), Err(WithCert));
        assert_eq!(with_connect(&["-withcert"]), Err(WithCert));
    }

    #[test]
    fn messages_explain_the_limit() {
        let text = ArgsError::DataMin(4).to_string();
        assert!(
            text.contains("at least 5") && text.contains("GET answers"),
            "{text}"
        );
        assert!(ArgsError::WithCert.to_string().contains("not supported"));
        assert_eq!(
            ArgsError::TimevarNotBelowTimeout {
                timevar: 9,
                timeout: 9
            }
            .to_string(),
            "-timevar must be strictly smaller than -timeout (got -timevar 9, -timeout 9)"
        );
    }

    fn mode(args: &[&str]) -> Result<Mode, ArgsError> {
        dc_cli::try_parse_from::<Args, _, _>(std::iter::once("dc_test").chain(args.iter().copied()))
            .map_err(|e| panic!("{}", dc_cli::error_line(&e)))
            .unwrap()
            .mode()
    }

    #[test]
    fn verify_mode_stays_the_default() {
        let m = mode(&["-connect", "IP:127.0.0.1:9001", "-ops", "5", "--seed", "3"]).unwrap();
        let Mode::Verify(c) = m else { panic!("{m:?}") };
        assert_eq!((c.ops, c.seed), (5, Some(3)));
    }

    #[test]
    fn any_load_option_selects_the_load_mode() {
        use std::time::Duration;
        let load = |args: &[&str]| {
            let mut all = vec!["-connect", "IP:127.0.0.1:9001"];
            all.extend_from_slice(args);
            match mode(&all) {
                Ok(Mode::Load(c)) => c,
                other => panic!("{args:?}: {other:?}"),
            }
        };
        let c = load(&["-load"]);
        assert_eq!((c.conns, c.depth, c.threads), (1, 1, 1));
        assert_eq!((c.duration, c.ops), (Some(Duration::from_secs(10)), None));
        assert_eq!(
            (c.ids, c.id_len, c.data_min, c.data_max),
            (10_000, 32, 100, 1500)
        );
        assert_eq!(c.mix.to_string(), "add=20,get=70,remove=10,have=0");
        assert_eq!(c.connect.to_string(), "IP:127.0.0.1:9001");
        let c = load(&["-conns", "16", "-depth", "16", "-ops", "1000", "-seed", "9"]);
        assert_eq!(
            (c.conns, c.depth, c.ops, c.duration),
            (16, 16, Some(1000), None)
        );
        assert_eq!(c.seed, Some(9));
        let c = load(&["--ops", "10", "--duration", "2.5", "--prefill", "--json"]);
        assert_eq!(c.duration, Some(Duration::from_millis(2500)));
        assert!(c.prefill && c.json && !c.new_conn_per_op);
        assert_eq!(c.plot, None);
        let c = load(&["-plot", "/tmp/run.SVG"]);
        assert_eq!(c.plot, Some("/tmp/run.SVG".into()));
        let c = load(&[
            "-new-conn-per-op",
            "-conns",
            "4",
            "-mix",
            "get=1",
            "-ttl-ms",
            "2000",
        ]);
        assert_eq!((c.threads, c.ttl_ms), (4, 2000));
        for flag in ["-allow-evictions", "-json", "-prefill", "-new-conn-per-op"] {
            assert!(matches!(
                mode(&["-connect", "IP:127.0.0.1:1", flag]),
                Ok(Mode::Load(_))
            ));
        }
    }

    #[test]
    fn load_mode_limits() {
        use crate::load::args::LoadArgsError as L;
        let err = |args: &[&str]| {
            let mut all = vec!["-connect", "IP:127.0.0.1:9001"];
            all.extend_from_slice(args);
            match mode(&all) {
                Err(ArgsError::Load(e)) => e,
                other => panic!("{args:?}: {other:?}"),
            }
        };
        assert_eq!(mode(&["-load"]), Err(ArgsError::Load(L::MissingConnect)));
        assert!(matches!(
            err(&["-conns", "0"]),
            L::Range {
                option: "conns",
                ..
            }
        ));
        assert!(matches!(
            err(&["-depth", "1025"]),
            L::Range {
                option: "depth",
                ..
            }
        ));
        assert!(matches!(
            err(&["-duration", "0"]),
            L::Range {
                option: "duration",
                ..
            }
        ));
        assert!(matches!(
            err(&["-duration", "NaN"]),
            L::Range {
                option: "duration",
                ..
            }
        ));
        assert!(matches!(
            err(&["-load", "-ops", "0"]),
            L::Range { option: "ops", .. }
        ));
        assert!(matches!(
            err(&["-ids", "0"]),
            L::Range { option: "ids", .. }
        ));
        assert!(matches!(
            err(&["-ids", "100000001"]),
            L::Range { option: "ids", .. }
        ));
        assert!(matches!(
            err(&["-id-len", "7"]),
            L::Range {
                option: "id-len",
                ..
            }
        ));
        assert!(matches!(
            err(&["-id-len", "65"]),
            L::Range {
                option: "id-len",
                ..
            }
        ));
        assert!(matches!(
            err(&["-data-min", "23"]),
            L::Range {
                option: "data-min",
                ..
            }
        ));
        // 8 + 32 + 32728 = 32768, the largest payload.
        assert!(matches!(
            mode(&["-connect", "IP:h:1", "-data-max", "32728"]),
            Ok(Mode::Load(_))
        ));
        assert!(matches!(
            err(&["-data-max", "32729"]),
            L::Range {
                option: "data-max",
                ..
            }
        ));
        assert_eq!(
            err(&["-data-min", "200", "-data-max", "100"]),
            L::DataRange { min: 200, max: 100 }
        );
        assert!(matches!(
            err(&["-ttl-ms", "0"]),
            L::Range {
                option: "ttl-ms",
                ..
            }
        ));
        assert!(matches!(
            err(&["-ttl-ms", "604800001"]),
            L::Range {
                option: "ttl-ms",
                ..
            }
        ));
        assert_eq!(
            err(&["-conns", "5", "-ids", "4"]),
            L::FewerIdsThanConns { ids: 4, conns: 5 }
        );
        assert_eq!(
            err(&["-conns", "2", "-threads", "3"]),
            L::MoreThreadsThanConns {
                threads: 3,
                conns: 2
            }
        );
        assert_eq!(err(&["-new-conn-per-op", "-depth", "2"]), L::DepthPerOp(2));
        assert_eq!(err(&["-new-conn-per-op", "-rate", "100"]), L::RatePerOp);
        for bad in ["0", "-5", "NaN", "1e9"] {
            assert!(
                matches!(err(&["-rate", bad]), L::Range { option: "rate", .. }),
                "-rate {bad}"
            );
        }
        assert_eq!(
            err(&["-new-conn-per-op", "-conns", "2", "-threads", "1"]),
            L::ThreadsPerOp {
                threads: 1,
                conns: 2
            }
        );
        assert!(matches!(err(&["-mix", "get=0"]), L::Mix(_)));
        for bad in ["run.png", "run", "svg"] {
            assert_eq!(err(&["-plot", bad]), L::PlotNotSvg(bad.into()), "{bad}");
        }
        assert_eq!(
            err(&["-plot", "run.png"]).to_string(),
            "--plot \"run.png\": the chart is written as SVG, give a file name ending in .svg"
        );
        let other = |connect: &str| match mode(&["-connect", connect, "-load"]) {
            Err(ArgsError::Load(e)) => e,
            other => panic!("{other:?}"),
        };
        assert!(matches!(other("IP:9001"), L::NotConnectable(_)));
        assert!(matches!(other(":9001"), L::NotConnectable(_)));
        assert!(matches!(other("nowhere"), L::Address(_)));
        for (plain, canonical) in [
            ("127.0.0.1:9001", "IP:127.0.0.1:9001"),
            ("[::1]:9001", "IP:[::1]:9001"),
            ("/tmp/dc.sock", "UNIX:/tmp/dc.sock"),
        ] {
            match mode(&["-connect", plain, "-load"]) {
                Ok(Mode::Load(c)) => assert_eq!(c.connect.to_string(), canonical),
                other => panic!("{plain}: {other:?}"),
            }
        }
        let text = err(&["-depth", "0"]).to_string();
        assert_eq!(text, "--depth 0 is out of range (1 to 1024)");
    }

    #[test]
    fn verify_only_options_are_refused_in_load_mode() {
        for verify_only in [
            &["-sessions", "5"][..],
            &["-datamin", "10"],
            &["-datamax", "100"],
            &["-timeout", "9"],
            &["-timevar", "1"],
            &["-progress", "10"],
            &["-persistent"],
            &["-withcert"],
        ] {
            let mut args = vec!["dc_test", "-connect", "IP:127.0.0.1:1", "-conns", "2"];
            args.extend_from_slice(verify_only);
            let e = dc_cli::try_parse_from::<Args, _, _>(args).unwrap_err();
            let line = dc_cli::error_line(&e);
            assert!(
                line.contains("'--conns <N>' cannot be used with")
                    && line.contains(&verify_only[0][1..]),
                "{line}"
            );
        }
    }

    #[test]
    fn every_load_option_is_in_the_conflict_list() {
        use clap::Args as _;
        let cmd = LoadArgs::augment_args(clap::Command::new("x"));
        let ids: Vec<&str> = cmd.get_arguments().map(|a| a.get_id().as_str()).collect();
        assert_eq!(ids.len(), LOAD_OPTIONS.len());
        for id in ids {
            assert!(LOAD_OPTIONS.contains(&id), "{id} missing from LOAD_OPTIONS");
        }
    }

    #[test]
    fn junk_numbers_are_refused_not_zero() {
        // The original used atoi: "abc" silently became 0.
        let e = dc_cli::try_parse_from::<Args, _, _>(["dc_test", "-sessions", "abc"]).unwrap_err();
        assert!(dc_cli::error_line(&e).contains("abc"));
    }
}
