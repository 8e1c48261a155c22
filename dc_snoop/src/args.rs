//! dc_snoop's command line: the original's `-listen` and `-server` (or
//! `-connect`), single-dash or double-dash, plus the output options.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use dc_trace::{Format, PrinterConfig};
use nal::{Address, AddressError};
use thiserror::Error;

/// Longest `-summary` period, in seconds (a day).
pub const MAX_SUMMARY_SECS: u64 = 86_400;

/// Watch distcache traffic.
///
/// Put it between two distcache peers (an application and dc_client, or
/// dc_client and dc_server): it accepts connections on -listen, relays each
/// one to -server byte for byte, and prints every request and response it
/// sees. Options take one dash or two (-listen or --listen).
//
// The doc comment is the help's text (-h shows its first line, --help all
// of it) and the man page's NAME and DESCRIPTION (dc_docgen).
#[derive(Debug, Parser)]
#[command(name = "dc_snoop", version)]
#[command(
    after_help = format!("Example: dc_snoop -listen IP:9002 -server IP:127.0.0.1:9001\n\
(or -listen :9002 -server 127.0.0.1:9001),\n\
then point the clients at port 9002 instead of 9001.\n\
Text lines read: time (UTC), #connection, direction (c->s, s->c), uid, command,\n\
session id (hex), payload size, and for responses the result and round-trip time.\n{}",
        nal::ADDRESS_HELP)
)]
pub struct Args {
    /// Address to accept clients on (required), e.g. IP:9002, :9002 or
    /// /tmp/snoop
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,

    /// Address of the server to relay to (required), e.g. IP:127.0.0.1:9001
    /// or 127.0.0.1:9001
    #[arg(long, value_name = "ADDR")]
    pub server: Option<String>,

    /// Same as -server (the original's alias)
    #[arg(long, value_name = "ADDR")]
    pub connect: Option<String>,

    /// Also dump each command's payload in hex
    #[arg(long)]
    pub hex: bool,

    /// Print one JSON object per line instead of text
    #[arg(long)]
    pub json: bool,

    /// Quiet mode: instead of a line per command, print counts per command
    /// and result every SECS seconds (and for the whole run on exit)
    #[arg(long, value_name = "SECS", conflicts_with = "hex",
          value_parser = clap::value_parser!(u64).range(1..=MAX_SUMMARY_SECS))]
    pub summary: Option<u64>,

    /// Write the trace to FILE (created or truncated) instead of standard
    /// output
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Most client connections relayed at once; one more is accepted and
    /// closed at once, with a log line
    #[arg(long = "max-connections", value_name = "N",
          default_value_t = dc_trace::relay::DEFAULT_MAX_CONNECTIONS,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=100_000))]
    pub max_connections: usize,
}

/// A checked command line.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to accept clients.
    pub listen: Address,
    /// Where to relay them.
    pub server: Address,
    /// How to print.
    pub printer: PrinterConfig,
    /// Where to print (standard output when `None`).
    pub output: Option<PathBuf>,
    /// Most client connections relayed at once.
    pub max_connections: usize,
}

/// A command line that parsed but cannot be used.
#[derive(Debug, Error)]
pub enum ArgsError {
    /// `-listen` or `-server` is missing (the original's message).
    #[error("must provide -listen and -server")]
    Missing,
    /// Both `-server` and `-connect`.
    #[error("give the server once: -server and -connect are the same option")]
    TwoServers,
    /// An address that does not parse.
    #[error(transparent)]
    Address(#[from] AddressError),
    /// A server address with no host.
    #[error("cannot connect to \"{0}\": the server address needs a host, e.g. IP:127.0.0.1:9001")]
    NotConnectable(Address),
}

impl Args {
    /// Checks the addresses and gathers the output options.
    pub fn validate(self) -> Result<Config, ArgsError> {
        let server = match (self.server, self.connect) {
            (Some(_), Some(_)) => return Err(ArgsError::TwoServers),
            (Some(s), None) | (None, Some(s)) => s,
            (None, None) => return Err(ArgsError::Missing),
        };
        let listen = self.listen.ok_or(ArgsError::Missing)?;
        let listen = Address::parse(&listen)?;
        let server = Address::parse(&server)?;
        if !server.can_connect() {
            return Err(ArgsError::NotConnectable(server));
        }
        Ok(Config {
            listen,
            server,
            printer: PrinterConfig {
                format: if self.json {
                    Format::Json
                } else {
                    Format::Text
                },
                hex: self.hex,
                summary: self.summary.map(Duration::from_secs),
            },
            output: self.output,
            max_connections: self.max_connections,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, String> {
        let args: Args =
            dc_cli::try_parse_from(std::iter::once("dc_snoop").chain(args.iter().copied()))
                .map_err(|e| dc_cli::error_line(&e))?;
        args.validate().map_err(|e| e.to_string())
    }

    #[test]
    fn the_original_command_line_is_accepted() {
        let c = parse(&["-listen", "IP:9002", "-server", "IP:127.0.0.1:9001"]).unwrap();
        assert_eq!(c.listen.to_string(), "IP:9002");
        assert_eq!(c.server.to_string(), "IP:127.0.0.1:9001");
        assert_eq!(c.printer, PrinterConfig::default());
        assert_eq!(c.output, None);
        let c = parse(&["-connect", "UNIX:/tmp/s", "-listen", "UNIX:/tmp/l"]).unwrap();
        assert_eq!(c.server.to_string(), "UNIX:/tmp/s");
    }

    #[test]
    fn the_forms_of_other_daemons_are_accepted() {
        let c = parse(&["-listen", ":9002", "-server", "127.0.0.1:9001"]).unwrap();
        assert_eq!(c.listen.to_string(), "IP:9002");
        assert_eq!(c.server.to_string(), "IP:127.0.0.1:9001");
        let c = parse(&["-listen", "./snoop.sock", "-server", "[::1]:9001"]).unwrap();
        assert_eq!(c.listen.to_string(), "UNIX:./snoop.sock");
        assert_eq!(c.server.to_string(), "IP:[::1]:9001");
        let e = parse(&["-listen", ":9002", "-server", ":9001"]).unwrap_err();
        assert!(e.contains("needs a host"), "{e}");
    }

    #[test]
    fn output_options() {
        let c = parse(&[
            "--listen",
            "IP:1",
            "--server",
            "IP:localhost:2",
            "--json",
            "-hex",
            "-output",
            "t.log",
        ])
        .unwrap();
        assert_eq!(c.printer.format, Format::Json);
        assert!(c.printer.hex);
        assert_eq!(c.output, Some(PathBuf::from("t.log")));
        let c = parse(&["-listen", "IP:1", "-server", "IP:h:2", "-summary", "5"]).unwrap();
        assert_eq!(c.printer.summary, Some(Duration::from_secs(5)));
    }

    #[test]
    fn bad_command_lines_are_refused_by_name() {
        for (args, needle) in [
            (&[][..], "must provide -listen and -server"),
            (&["-listen", "IP:1"][..], "must provide -listen and -server"),
            (
                &["-server", "IP:h:1"][..],
                "must provide -listen and -server",
            ),
            (
                &["-listen", "IP:1", "-server", "IP:h:1", "-connect", "IP:h:2"][..],
                "-server and -connect",
            ),
            (
                &["-listen", "IP:1", "-server", "IP:9001"][..],
                "needs a host",
            ),
            (
                &["-listen", "nowhere", "-server", "IP:h:1"][..],
                "\"nowhere\"",
            ),
            (
                &["-listen", "IP:1", "-server", "IP:h:1", "-summary", "0"][..],
                "0",
            ),
            (
                &[
                    "-listen", "IP:1", "-server", "IP:h:1", "-summary", "1", "-hex",
                ][..],
                "--hex",
            ),
            (&["-bogus"][..], "Error, \"-bogus\" not recognised"),
        ] {
            let e = parse(args).unwrap_err();
            assert!(e.contains(needle), "{args:?}: {e}");
        }
    }
}
