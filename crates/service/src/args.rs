//! The service options as they appear on the command line, shared by
//! dc_server and dc_client (`#[command(flatten)]`), so both spell, document
//! and check them the same way.

use std::path::{Path, PathBuf};

use clap::Args;

use crate::{ServiceOptions, SocketAccess};

/// `-daemon -logfile -pidfile -user -sockowner -sockgroup -sockperms
/// -killable`, as the original tools have them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
pub struct ServiceArgs {
    /// Detach from the terminal and run in the background (use -logfile to
    /// keep the logs; otherwise they go to /dev/null, as with the original)
    #[arg(long)]
    pub daemon: bool,

    /// Append logs to FILE instead of stderr
    #[arg(long, value_name = "FILE")]
    pub logfile: Option<PathBuf>,

    /// Write the process id to FILE once listening; removed on clean exit
    #[arg(long, value_name = "FILE")]
    pub pidfile: Option<PathBuf>,

    /// After binding the listening socket, switch to this user (name or uid)
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,

    /// Owner of a UNIX: listening socket (name or uid)
    #[arg(long, value_name = "USER")]
    pub sockowner: Option<String>,

    /// Group of a UNIX: listening socket (name or gid)
    #[arg(long, value_name = "GROUP")]
    pub sockgroup: Option<String>,

    /// Mode of a UNIX: listening socket, in octal [default: 660, owner and
    /// group only: whoever can connect can read and plant TLS sessions]
    #[arg(long, value_name = "OCTAL", value_parser = crate::parse_mode)]
    pub sockperms: Option<u32>,

    /// Let SIGUSR1 and SIGUSR2 stop the program cleanly (otherwise ignored)
    #[arg(long)]
    pub killable: bool,
}

impl ServiceArgs {
    /// Starts logging: to `-logfile` if given (made absolute first, since
    /// `-daemon` changes directory to `/`), else to stderr. Exits with the
    /// original's one-line error if the file cannot be opened.
    pub fn start_logging(&self) {
        match &self.logfile {
            Some(path) => dc_cli::init_logging_to(&absolute_path(path)).unwrap_or_else(|e| {
                dc_cli::fail(format_args!("cannot open log file {}: {e}", path.display()))
            }),
            None => dc_cli::init_logging(),
        }
    }

    /// What [`become_service`](crate::become_service) needs.
    pub fn options(&self) -> ServiceOptions {
        ServiceOptions {
            daemon: self.daemon,
            pidfile: self.pidfile.clone(),
            user: self.user.clone(),
            socket: SocketAccess {
                owner: self.sockowner.clone(),
                group: self.sockgroup.clone(),
                mode: self.sockperms,
            },
        }
    }
}

/// `path` made absolute against the current directory (unchanged if that
/// cannot be read), for paths used after `-daemon` moves to `/`.
pub fn absolute_path(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        service: ServiceArgs,
    }

    #[test]
    fn maps_every_option() {
        let cli = dc_cli::try_parse_from::<Cli, _, _>([
            "x",
            "-daemon",
            "-pidfile",
            "p",
            "-user",
            "u",
            "-sockowner",
            "o",
            "-sockgroup",
            "g",
            "-sockperms",
            "640",
            "-killable",
        ])
        .unwrap();
        let options = cli.service.options();
        assert!(options.daemon && cli.service.killable);
        assert_eq!(options.pidfile, Some(PathBuf::from("p")));
        assert_eq!(options.user.as_deref(), Some("u"));
        assert_eq!(options.socket.owner.as_deref(), Some("o"));
        assert_eq!(options.socket.group.as_deref(), Some("g"));
        assert_eq!(options.socket.mode, Some(0o640));
        assert!(dc_cli::try_parse_from::<Cli, _, _>(["x", "-sockperms", "9"]).is_err());
    }

    #[test]
    fn relative_paths_are_made_absolute() {
        assert!(absolute_path(Path::new("log")).is_absolute());
        assert_eq!(absolute_path(Path::new("/a/b")), PathBuf::from("/a/b"));
    }
}
