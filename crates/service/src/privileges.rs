//! Dropping root privileges after the listening socket is bound.

use std::ffi::CString;

use nix::unistd::{getegid, geteuid, initgroups, setgid, setuid, Gid, Group, Uid, User};
use thiserror::Error;

/// Why the process could not switch user.
#[derive(Debug, Error)]
pub enum PrivilegeError {
    /// No such user.
    #[error("unknown user \"{0}\"")]
    UnknownUser(String),
    /// No such group.
    #[error("unknown group \"{0}\"")]
    UnknownGroup(String),
    /// A system call failed.
    #[error("cannot switch to user \"{user}\": {call} failed: {errno}")]
    Switch {
        /// The target user.
        user: String,
        /// The failing call.
        call: &'static str,
        /// Its error.
        errno: nix::errno::Errno,
    },
    /// The switch claimed success but the ids did not change.
    #[error(
        "switching to user \"{0}\" did not take effect; refusing to run with the old privileges"
    )]
    NotDropped(String),
}

/// Looks a user up by name or numeric id.
pub fn lookup_user(name: &str) -> Result<User, PrivilegeError> {
    let found = match name.parse::<u32>() {
        Ok(uid) => User::from_uid(Uid::from_raw(uid)),
        Err(_) => User::from_name(name),
    };
    found
        .ok()
        .flatten()
        .ok_or_else(|| PrivilegeError::UnknownUser(name.to_string()))
}

/// Looks a group up by name or numeric id.
pub fn lookup_group(name: &str) -> Result<Group, PrivilegeError> {
    let found = match name.parse::<u32>() {
        Ok(gid) => Group::from_gid(Gid::from_raw(gid)),
        Err(_) => Group::from_name(name),
    };
    found
        .ok()
        .flatten()
        .ok_or_else(|| PrivilegeError::UnknownGroup(name.to_string()))
}

/// Becomes `name`: its supplementary groups, its group, then its user, in
/// that order (after setuid the others are no longer allowed). Fails rather
/// than carry on with the old privileges.
pub fn drop_privileges(name: &str) -> Result<(), PrivilegeError> {
    let user = lookup_user(name)?;
    let fail = |call, errno| PrivilegeError::Switch {
        user: name.to_string(),
        call,
        errno,
    };
    if geteuid() != user.uid {
        let cname = CString::new(user.name.clone())
            .map_err(|_| PrivilegeError::UnknownUser(name.into()))?;
        initgroups(&cname, user.gid).map_err(|e| fail("initgroups", e))?;
        setgid(user.gid).map_err(|e| fail("setgid", e))?;
        setuid(user.uid).map_err(|e| fail("setuid", e))?;
    }
    if geteuid() != user.uid || getegid() != user.gid {
        return Err(PrivilegeError::NotDropped(name.to_string()));
    }
    log::info!(
        "running as user {} (uid {}, gid {})",
        user.name,
        user.uid,
        user.gid
    );
    Ok(())
}
