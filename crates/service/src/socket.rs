//! Owner, group and mode of a unix listening socket.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::unistd::chown;
use thiserror::Error;

use crate::privileges::{lookup_group, lookup_user, PrivilegeError};

/// Mode of a unix listening socket unless told otherwise: owner and group
/// may connect, others may not (a session cache holds TLS secrets).
pub const DEFAULT_SOCKET_MODE: u32 = 0o660;

/// Who may connect to a unix socket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SocketAccess {
    /// Owner (name or uid), `-sockowner`.
    pub owner: Option<String>,
    /// Group (name or gid), `-sockgroup`.
    pub group: Option<String>,
    /// Mode bits, `-sockperms` (octal on the command line).
    pub mode: Option<u32>,
}

impl SocketAccess {
    /// Whether anything is to be changed.
    pub fn is_set(&self) -> bool {
        self.owner.is_some() || self.group.is_some() || self.mode.is_some()
    }
}

/// Why the socket's owner or mode could not be set.
#[derive(Debug, Error)]
pub enum SocketAccessError {
    /// Unknown user or group.
    #[error(transparent)]
    Lookup(#[from] PrivilegeError),
    /// chown or chmod failed.
    #[error("cannot {what} {path}: {source}")]
    Apply {
        /// "chown" or "chmod".
        what: &'static str,
        /// The socket file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}

/// Runs `bind` with a umask that leaves a new socket file readable and
/// writable by its owner only, so it is never connectable by others in the
/// moment before [`set_socket_access`] gives it its final mode. Call it
/// before any thread is started: the umask is process-wide.
pub fn with_private_umask<T>(bind: impl FnOnce() -> T) -> T {
    use nix::sys::stat::{umask, Mode};
    let old = umask(Mode::from_bits_truncate(0o177));
    let result = bind();
    umask(old);
    result
}

/// Parses an octal mode such as `660` or `0660`.
pub fn parse_mode(text: &str) -> Result<u32, String> {
    match u32::from_str_radix(text, 8) {
        Ok(mode) if mode <= 0o777 => Ok(mode),
        _ => Err(format!(
            "\"{text}\" is not an octal file mode between 000 and 777"
        )),
    }
}

/// Applies `access` to the socket file at `path`.
pub fn set_socket_access(path: &Path, access: &SocketAccess) -> Result<(), SocketAccessError> {
    let uid = access
        .owner
        .as_deref()
        .map(lookup_user)
        .transpose()?
        .map(|u| u.uid);
    let gid = access
        .group
        .as_deref()
        .map(lookup_group)
        .transpose()?
        .map(|g| g.gid);
    if uid.is_some() || gid.is_some() {
        chown(path, uid, gid).map_err(|e| SocketAccessError::Apply {
            what: "chown",
            path: path.to_path_buf(),
            source: e.into(),
        })?;
    }
    if let Some(mode) = access.mode {
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(|source| {
            SocketAccessError::Apply {
                what: "chmod",
                path: path.to_path_buf(),
                source,
            }
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        assert_eq!(parse_mode("660"), Ok(0o660));
        assert_eq!(parse_mode("0600"), Ok(0o600));
        assert!(parse_mode("888").unwrap_err().contains("\"888\""));
        assert!(parse_mode("1777").is_err());
    }

    #[test]
    fn applies_mode_to_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sock");
        fs::write(&path, "").unwrap();
        let access = SocketAccess {
            mode: Some(0o640),
            ..Default::default()
        };
        set_socket_access(&path, &access).unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o640
        );
        let bad = SocketAccess {
            owner: Some("no-such-user-xyz".into()),
            ..Default::default()
        };
        assert!(set_socket_access(&path, &bad)
            .unwrap_err()
            .to_string()
            .contains("no-such-user-xyz"));
    }
}
