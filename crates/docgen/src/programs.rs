//! The four programs, and what their man pages say beyond the options:
//! exit status, signals, files. The options, the description and the notes
//! come from the clap definitions; this is what clap does not know.

use clap::{Command, CommandFactory};

/// One term of a man page list (`.TP`): an exit status, a signal, a file.
#[derive(Debug, Clone, Copy)]
pub struct Item {
    /// The term, set in bold.
    pub term: &'static str,
    /// What it means, one paragraph.
    pub text: &'static str,
}

/// A distcache tool: its name, its clap command, and the man page's own
/// sections.
#[derive(Debug)]
pub struct Program {
    /// The binary's name, also the page's name (section 1).
    pub name: &'static str,
    command: fn() -> Command,
    /// EXIT STATUS.
    pub exit_status: &'static [Item],
    /// SIGNALS (empty: no section).
    pub signals: &'static [Item],
    /// FILES (empty: no section).
    pub files: &'static [Item],
}

impl Program {
    /// The clap command the binary parses with.
    pub fn command(&self) -> Command {
        (self.command)()
    }
}

/// SIGTERM and SIGINT, as the two daemons handle them.
const DAEMON_SIGNALS: &[Item] = &[
    Item {
        term: "SIGTERM, SIGINT",
        text: "Stop cleanly: stop accepting, send the answers already owed, \
               remove the -pidfile and the unix socket, and exit with status 0. \
               This is what systemctl stop and Ctrl-C do.",
    },
    Item {
        term: "SIGUSR1, SIGUSR2",
        text: "Ignored, unless -killable is given: then the same as SIGTERM \
               (the original's way of letting scripts stop it).",
    },
    Item {
        term: "SIGHUP",
        text: "Not handled: it ends the process, as for any program. There is \
               no configuration to reload; restart the service to change options.",
    },
];

const DAEMON_EXIT_STATUS: &[Item] = &[
    Item {
        term: "0",
        text: "Stopped by a signal (see SIGNALS), or -h or -V asked for.",
    },
    Item {
        term: "1",
        text: "A bad command line (an unknown option, a value out of range, a \
               malformed address), or a failure to start or to serve: an address \
               that cannot be listened on, a TLS file that cannot be read, a \
               -pidfile naming a live process, a -user that cannot be switched to. \
               One line starting with \"Error, \" on standard error says which. \
               With -daemon, failures up to binding the listening sockets are \
               still reported this way; later ones go to the -logfile.",
    },
];

/// The packaged units and environment files.
const SERVER_FILES: &[Item] = &[
    Item {
        term: "/etc/default/dc_server",
        text: "The options of the packaged service, DC_SERVER_OPTS (read by \
               dc_server.service through EnvironmentFile=).",
    },
    Item {
        term: "/usr/lib/systemd/system/dc_server.service",
        text: "The systemd unit: runs dc_server in the foreground as the \
               distcache user, sandboxed.",
    },
];

const CLIENT_FILES: &[Item] = &[
    Item {
        term: "/etc/default/dc_client",
        text: "The options of the packaged service, DC_CLIENT_OPTS (read by \
               dc_client.service through EnvironmentFile=): where dc_server is, \
               and which group may use the socket.",
    },
    Item {
        term: "/usr/lib/systemd/system/dc_client.service",
        text: "The systemd unit: runs dc_client in the foreground as the \
               distcache user, sandboxed.",
    },
    Item {
        term: "/run/distcache/dc_client.sock",
        text: "The local socket of the packaged service, for the TLS servers \
               on the node (the built-in default, without the package, is \
               /tmp/scache, as the original's).",
    },
];

/// The four tools, in the order their pages are listed.
pub const PROGRAMS: [Program; 4] = [
    Program {
        name: "dc_server",
        command: dc_server::args::Args::command,
        exit_status: DAEMON_EXIT_STATUS,
        signals: DAEMON_SIGNALS,
        files: SERVER_FILES,
    },
    Program {
        name: "dc_client",
        command: dc_client::args::Args::command,
        exit_status: DAEMON_EXIT_STATUS,
        signals: DAEMON_SIGNALS,
        files: CLIENT_FILES,
    },
    Program {
        name: "dc_test",
        command: dc_test::args::Args::command,
        exit_status: &[
            Item {
                term: "0",
                text: "Every answer matched the model (verify mode: \"Info, all \
                       tests complete\"; load mode: no errors in the summary), or \
                       -h or -V asked for.",
            },
            Item {
                term: "1",
                text: "An answer did not match, the server or proxy could not be \
                       reached, or the command line was bad (one line starting \
                       with \"Error, \" on standard error).",
            },
        ],
        signals: &[],
        files: &[],
    },
    Program {
        name: "dc_snoop",
        command: dc_snoop::args::Args::command,
        exit_status: &[
            Item {
                term: "0",
                text: "Stopped by SIGINT or SIGTERM (every connection closed, its \
                       totals printed, the trace flushed), or -h or -V asked for.",
            },
            Item {
                term: "1",
                text: "A bad command line, an address that cannot be listened on, \
                       an -output file that cannot be written, or a failure while \
                       relaying (one line starting with \"Error, \" on standard \
                       error).",
            },
        ],
        signals: &[Item {
            term: "SIGINT, SIGTERM",
            text: "Stop: close every relayed connection, print its totals, flush \
                   the trace, exit with status 0.",
        }],
        files: &[],
    },
];
