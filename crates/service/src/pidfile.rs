//! The pidfile: written once the service is listening, removed when it
//! stops cleanly.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::signal::kill;
use nix::unistd::Pid;
use thiserror::Error;

/// Why the pidfile could not be written.
#[derive(Debug, Error)]
pub enum PidFileError {
    /// Another running process is named by the pidfile.
    #[error("pidfile {path} names process {pid}, which is still running")]
    InUse {
        /// The pidfile.
        path: PathBuf,
        /// The live process it names.
        pid: i32,
    },
    /// The file could not be written.
    #[error("cannot write pidfile {path}: {source}")]
    Write {
        /// The pidfile.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}

/// A written pidfile; dropping it removes the file (if it still holds our
/// pid, so a successor's file is never deleted).
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
    pid: u32,
}

impl PidFile {
    /// Writes the current process id to `path`, refusing if the file names a
    /// process that is still running; a stale file is replaced.
    pub fn create(path: &Path) -> Result<PidFile, PidFileError> {
        let pid = std::process::id();
        if let Some(other) = read_pid(path) {
            if other != pid as i32 && is_running(other) {
                return Err(PidFileError::InUse {
                    path: path.to_path_buf(),
                    pid: other,
                });
            }
        }
        fs::write(path, format!("{pid}\n")).map_err(|source| PidFileError::Write {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(PidFile {
            path: path.to_path_buf(),
            pid,
        })
    }

    /// Where the pidfile is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        if read_pid(&self.path) == Some(self.pid as i32) {
            let _ = fs::remove_file(&self.path);
        }
    }
}

fn read_pid(path: &Path) -> Option<i32> {
    fs::read_to_string(path)
        .ok()?
        .trim()
        .parse()
        .ok()
        .filter(|&p| p > 0)
}

fn is_running(pid: i32) -> bool {
    // EPERM: it exists but belongs to someone else.
    matches!(kill(Pid::from_raw(pid), None), Ok(()) | Err(Errno::EPERM))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_removes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.pid");
        let pf = PidFile::create(&path).unwrap();
        assert_eq!(read_pid(&path), Some(std::process::id() as i32));
        drop(pf);
        assert!(!path.exists());
    }

    #[test]
    fn refuses_a_live_process_and_replaces_a_stale_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.pid");
        // pid 1 is always running.
        fs::write(&path, "1").unwrap();
        let err = PidFile::create(&path).unwrap_err();
        assert!(err.to_string().contains("names process 1"), "{err}");
        // A pid far beyond pid_max cannot be running.
        fs::write(&path, "2147483646").unwrap();
        let _pf = PidFile::create(&path).unwrap();
        assert_eq!(read_pid(&path), Some(std::process::id() as i32));
        fs::write(&path, "garbage").unwrap();
        assert!(PidFile::create(&path).is_ok());
    }
}
