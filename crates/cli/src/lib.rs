//! Command-line conventions shared by the distcache tools.
//!
//! The original tools take long options with a single dash (`-listen`,
//! `-sessions 10000`) and existing init scripts depend on that, while clap
//! speaks GNU style (`--listen`). [`parse`] accepts both: before clap sees the
//! arguments, every single-dash word that names one of the command's long
//! options is rewritten to its double-dash form. Values are never rewritten,
//! so `-pidfile -odd-name` still means what it says.
//!
//! Errors follow the original's style — one line starting with `Error, ` and
//! exit status 1 — rather than clap's exit status 2, so scripts that check
//! for 1 keep working.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::io::Write;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::Parser;

/// Parses the process's arguments into `P`, exiting like the original tools
/// on a bad command line (see the crate doc).
pub fn parse<P: Parser>() -> P {
    match try_parse_from(std::env::args_os()) {
        Ok(p) => p,
        Err(e) => exit_on_error(e),
    }
}

/// Parses `args` (the first being the program name) into `P`.
pub fn try_parse_from<P, I, T>(args: I) -> Result<P, clap::Error>
where
    P: Parser,
    I: IntoIterator<Item = T>,
    T: Into<OsString>,
{
    let mut cmd = P::command();
    let args = normalize(&cmd, args.into_iter().map(Into::into))?;
    let matches = cmd.try_get_matches_from_mut(args)?;
    P::from_arg_matches(&matches).map_err(|e| e.format(&mut cmd))
}

/// Rewrites single-dash long options to double-dash ones, joins every
/// option with its value (`--pidfile=-odd`, so a value that starts with a
/// dash is still a value), maps the original's help switches (`-help`,
/// `-?`) to `--help`, and, for a command with a version, `-V`, `-version`
/// and `--version` to `--version`.
///
/// A dash word that names no option is refused here, quoting it as typed:
/// left to clap, `-bogus` would be read as the short flags `-b -o -g...`.
pub fn normalize(
    cmd: &clap::Command,
    args: impl Iterator<Item = OsString>,
) -> Result<Vec<OsString>, clap::Error> {
    // long name or alias -> whether the option consumes the next word as
    // its value
    let longs: HashMap<String, bool> = cmd
        .get_arguments()
        .flat_map(|a| {
            // `get_num_args` is only filled in by `Command::build`; the
            // action is known from the start.
            let takes_value = a.get_action().takes_values();
            a.get_long()
                .into_iter()
                .chain(a.get_all_aliases().unwrap_or_default())
                .map(move |name| (name.to_string(), takes_value))
        })
        .collect();
    let shorts: Vec<String> = cmd
        .get_arguments()
        .filter_map(|a| a.get_short().map(|c| format!("-{c}")))
        .chain(["-h".to_string()])
        .collect();
    // clap adds its --version flag only when the command is built, so it is
    // not among the arguments above.
    let has_version = cmd.get_version().is_some() || cmd.get_long_version().is_some();
    let mut out = Vec::new();
    let mut args = args.enumerate();
    while let Some((i, arg)) = args.next() {
        if i == 0 {
            out.push(arg);
            continue;
        }
        if arg == OsStr::new("--") {
            out.push(arg);
            out.extend(args.map(|(_, a)| a));
            break;
        }
        let Some(s) = arg.to_str() else {
            out.push(arg);
            continue;
        };
        if matches!(s, "-help" | "--help" | "-?") {
            out.push("--help".into());
            continue;
        }
        if has_version && matches!(s, "-V" | "-version" | "--version") {
            out.push("--version".into());
            continue;
        }
        let Some(body) = s.strip_prefix("--").or_else(|| s.strip_prefix('-')) else {
            out.push(arg);
            continue;
        };
        let (name, inline_value) = match body.split_once('=') {
            Some((n, _)) => (n, true),
            None => (body, false),
        };
        match longs.get(name) {
            Some(&takes_value) => {
                let mut word = OsString::from(format!("--{body}"));
                if takes_value && !inline_value {
                    if let Some((_, value)) = args.next() {
                        word.push("=");
                        word.push(value);
                    }
                }
                out.push(word);
            }
            None if shorts.iter().any(|short| short == s) => out.push(arg),
            None => {
                let mut e = clap::Error::new(ErrorKind::UnknownArgument).with_cmd(cmd);
                e.insert(ContextKind::InvalidArg, ContextValue::String(s.to_string()));
                return Err(e);
            }
        }
    }
    Ok(out)
}

/// Prints a clap error in the original's style and exits: 0 for help and
/// version requests, 1 for anything wrong.
pub fn exit_on_error(e: clap::Error) -> ! {
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => e.exit(),
        _ => {}
    }
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "{}", error_line(&e));
    let _ = writeln!(stderr, "(run with -h for the list of options)");
    std::process::exit(1)
}

/// The one-line message for a command-line error.
pub fn error_line(e: &clap::Error) -> String {
    if e.kind() == ErrorKind::UnknownArgument {
        if let Some(ContextValue::String(arg)) = e.get(ContextKind::InvalidArg) {
            return format!("Error, \"{arg}\" not recognised");
        }
    }
    if e.kind() == ErrorKind::MissingRequiredArgument {
        if let Some(ContextValue::Strings(missing)) = e.get(ContextKind::InvalidArg) {
            return format!("Error, must provide {}", missing.join(" and "));
        }
    }
    // clap's rendered message starts with "error: " and may span several
    // lines (usage, tips); keep the first line, which names the problem.
    let rendered = e.render().to_string();
    let first = rendered.lines().next().unwrap_or("invalid command line");
    format!("Error, {}", first.trim_start_matches("error: "))
}

/// Prints `Error, <message>` and exits with status 1: for failures found
/// after the command line parsed (an address that cannot be listened on...).
pub fn fail(message: impl std::fmt::Display) -> ! {
    let _ = writeln!(std::io::stderr().lock(), "Error, {message}");
    std::process::exit(1)
}

/// A password from a file given with `option` (never on the command line):
/// its first line, without the line end. An unreadable file, or an empty
/// first line, fails as [`fail`] does, naming the option and the file.
pub fn read_password(option: &str, file: &std::path::Path) -> Vec<u8> {
    let text = std::fs::read(file).unwrap_or_else(|e| {
        fail(format_args!(
            "{option}: cannot read \"{}\": {e}",
            file.display()
        ))
    });
    let line = text.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.is_empty() {
        fail(format_args!(
            "{option}: \"{}\" holds no password on its first line",
            file.display()
        ));
    }
    line.to_vec()
}

/// The exit status of a daemon's run: 0 when a signal stopped it (logged),
/// 1 after an error, which is logged and printed in the original's style.
pub fn finish<E: std::fmt::Display>(stopped_by: Result<i32, E>) -> std::process::ExitCode {
    match stopped_by {
        Ok(signal) => {
            log::info!("stopped by signal {signal}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            log::error!("{e}");
            eprintln!("Error, {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Sets up logging to stderr: `info` by default, `RUST_LOG` overrides.
pub fn init_logging() {
    logger().init();
}

/// Sets up logging to `file` (appended to, created if missing) instead of
/// stderr: what `-logfile` gives a daemon, whose stderr is /dev/null.
pub fn init_logging_to(file: &std::path::Path) -> std::io::Result<()> {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)?;
    logger()
        .target(env_logger::Target::Pipe(Box::new(f)))
        .init();
    Ok(())
}

fn logger() -> env_logger::Builder {
    let mut b = env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"));
    b.format_timestamp_millis();
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug)]
    struct Args {
        #[arg(long)]
        listen: Option<String>,
        #[arg(long, default_value_t = 5)]
        sessions: u32,
        #[arg(long)]
        daemon: bool,
        #[arg(long)]
        pidfile: Option<String>,
        #[arg(long, alias = "connect")]
        server: Option<String>,
    }

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        try_parse_from(std::iter::once("prog").chain(args.iter().copied()))
    }

    #[test]
    fn single_and_double_dash_long_options() {
        let a = parse(&["-listen", "IP:9001", "--sessions", "7", "-daemon"]).unwrap();
        assert_eq!(a.listen.as_deref(), Some("IP:9001"));
        assert_eq!(a.sessions, 7);
        assert!(a.daemon);
        let a = parse(&["-sessions=9"]).unwrap();
        assert_eq!(a.sessions, 9);
    }

    #[test]
    fn aliases_take_one_dash_too() {
        let a = parse(&["-connect", "IP:h:1"]).unwrap();
        assert_eq!(a.server.as_deref(), Some("IP:h:1"));
        let a = parse(&["-server", "IP:h:2"]).unwrap();
        assert_eq!(a.server.as_deref(), Some("IP:h:2"));
    }

    #[test]
    fn values_are_never_rewritten() {
        let a = parse(&["-pidfile", "-daemon"]).unwrap();
        assert_eq!(a.pidfile.as_deref(), Some("-daemon"));
        assert!(!a.daemon);
    }

    #[test]
    fn unknown_switches_name_the_argument() {
        let e = parse(&["-listen", "IP:1", "-bogus"]).unwrap_err();
        assert_eq!(error_line(&e), "Error, \"-bogus\" not recognised");
        let e = parse(&["--nope"]).unwrap_err();
        assert_eq!(error_line(&e), "Error, \"--nope\" not recognised");
    }

    #[test]
    fn bad_values_name_the_value() {
        let e = parse(&["-sessions", "abc"]).unwrap_err();
        let line = error_line(&e);
        assert!(line.starts_with("Error, "), "{line}");
        assert!(line.contains("abc"), "{line}");
    }

    #[test]
    fn missing_required_options_are_named() {
        #[derive(Parser, Debug)]
        struct Needs {
            #[arg(long)]
            listen: String,
        }
        let e = try_parse_from::<Needs, _, _>(["prog"]).unwrap_err();
        assert_eq!(error_line(&e), "Error, must provide --listen <LISTEN>");
    }

    #[test]
    fn version_switches() {
        #[derive(Parser, Debug)]
        #[command(version)]
        struct Versioned {
            #[arg(long)]
            listen: Option<String>,
        }
        for v in ["-V", "-version", "--version"] {
            let e = try_parse_from::<Versioned, _, _>(["prog", v]).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::DisplayVersion, "{v}");
        }
        // Without a version, -V is an unknown switch like any other.
        let e = parse(&["-V"]).unwrap_err();
        assert_eq!(error_line(&e), "Error, \"-V\" not recognised");
    }

    #[test]
    fn help_switches() {
        for h in ["-h", "-help", "-?", "--help"] {
            assert_eq!(
                parse(&[h]).unwrap_err().kind(),
                ErrorKind::DisplayHelp,
                "{h}"
            );
        }
    }
}
