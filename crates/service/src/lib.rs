//! Running a distcache tool as a service.
//!
//! The original tools' `-daemon`, `-pidfile`, `-user`, `-sockowner`,
//! `-sockgroup` and `-sockperms` options, shared by `dc_server` and
//! `dc_client`. The order of use matters and is the caller's: bind the
//! listening socket, set its owner and mode, detach, write the pidfile, and
//! drop privileges last, so that a port below 1024 or a socket in a root-only
//! directory can be bound by an unprivileged service. Before all that, the
//! connection limit is fitted to the open-files limit ([`fit_connections`]).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod args;
mod daemon;
mod descriptors;
mod pidfile;
mod privileges;
mod socket;
mod startup;

pub use args::{absolute_path, ServiceArgs};
pub use daemon::daemonize;
pub use descriptors::{
    fit, fit_connections, raise_open_files_limit, DescriptorError, Fitted, BASE_RESERVE,
    METRICS_RESERVE,
};
pub use pidfile::{PidFile, PidFileError};
pub use privileges::{drop_privileges, lookup_group, lookup_user, PrivilegeError};
pub use socket::{
    parse_mode, set_socket_access, with_private_umask, SocketAccess, SocketAccessError,
    DEFAULT_SOCKET_MODE,
};
pub use startup::{become_service, Running, ServiceError, ServiceOptions};
