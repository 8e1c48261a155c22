//! Keeps `SIGPIPE` from killing the host program.
//!
//! Writing to a socket whose peer has gone (at once on a unix socket, after
//! an RST on TCP) raises `SIGPIPE`, whose default action ends the process.
//! Rust programs ignore it; a C host may not, and changing its signal
//! dispositions behind its back is not a library's business. So, as libpq
//! does, each call blocks `SIGPIPE` in the calling thread, and on the way
//! out discards a `SIGPIPE` the call itself raised (the write already
//! failed with `EPIPE`, which the client handles) before restoring the
//! thread's mask. A `SIGPIPE` that was pending before the call is left
//! alone.

use std::mem::MaybeUninit;
use std::ptr;

/// `SIGPIPE` blocked in this thread until dropped.
pub struct SigpipeBlocked {
    previous_mask: libc::sigset_t,
    was_pending: bool,
}

fn sigpipe_set() -> libc::sigset_t {
    let mut set = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset initialises the set it is given, then sigaddset
    // adds a valid signal number to the initialised set. Neither can fail
    // with these arguments.
    unsafe {
        libc::sigemptyset(set.as_mut_ptr());
        libc::sigaddset(set.as_mut_ptr(), libc::SIGPIPE);
        set.assume_init()
    }
}

fn sigpipe_pending() -> bool {
    let mut pending = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigpending fills the set it is given; it is read only if the
    // call succeeded.
    unsafe {
        libc::sigpending(pending.as_mut_ptr()) == 0
            && libc::sigismember(pending.as_ptr(), libc::SIGPIPE) == 1
    }
}

impl SigpipeBlocked {
    /// Blocks `SIGPIPE` in the calling thread. `None` if the mask cannot be
    /// changed (it always can on Linux); the call then goes ahead as the
    /// original would have.
    pub fn new() -> Option<SigpipeBlocked> {
        let set = sigpipe_set();
        let mut previous = MaybeUninit::<libc::sigset_t>::uninit();
        // SAFETY: `set` is an initialised signal set and `previous` is
        // space for one, which pthread_sigmask fills on success; it is
        // read only then.
        let previous_mask = unsafe {
            if libc::pthread_sigmask(libc::SIG_BLOCK, &set, previous.as_mut_ptr()) != 0 {
                return None;
            }
            previous.assume_init()
        };
        Some(SigpipeBlocked {
            previous_mask,
            was_pending: sigpipe_pending(),
        })
    }
}

impl Drop for SigpipeBlocked {
    fn drop(&mut self) {
        if !self.was_pending && sigpipe_pending() {
            let set = sigpipe_set();
            let no_wait = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: `set` and `no_wait` are initialised and outlive the
            // call; a null siginfo pointer is allowed. With a zero timeout
            // it only takes the pending SIGPIPE, it never waits.
            unsafe {
                libc::sigtimedwait(&set, ptr::null_mut(), &no_wait);
            }
        }
        // SAFETY: `previous_mask` is the thread's mask as pthread_sigmask
        // returned it; restoring it undoes our block.
        unsafe {
            libc::pthread_sigmask(libc::SIG_SETMASK, &self.previous_mask, ptr::null_mut());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sigpipe_raised_inside_is_swallowed_and_the_mask_restored() {
        // Tests run in threads of their own, so this mask is ours alone.
        let before = SigpipeBlocked::new().unwrap();
        drop(before);
        {
            let _blocked = SigpipeBlocked::new().unwrap();
            let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
            drop(b);
            use std::io::Write;
            let e = (&a).write(b"x").unwrap_err();
            assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe);
            // Rust ignores SIGPIPE in its own programs; raise one by hand
            // to see it swallowed as a C host's would be.
            // SAFETY: raising a blocked signal in our own thread.
            unsafe {
                libc::pthread_kill(libc::pthread_self(), libc::SIGPIPE);
            }
            assert!(sigpipe_pending());
        }
        assert!(!sigpipe_pending());
        let mut mask = MaybeUninit::<libc::sigset_t>::uninit();
        // SAFETY: querying (not changing) the mask into initialised space.
        let blocked = unsafe {
            libc::pthread_sigmask(libc::SIG_BLOCK, ptr::null(), mask.as_mut_ptr());
            libc::sigismember(mask.as_ptr(), libc::SIGPIPE)
        };
        assert_eq!(blocked, 0, "SIGPIPE still blocked after the guard");
    }
}
