//! The verify run: random operations on random sessions, each answer
//! checked against a model of what the cache should hold.
//!
//! The model is one "present" flag per session. ADD must succeed exactly
//! when the session is absent, REMOVE and HAVE must agree with the flag, and
//! GET must return the stored bytes when present and miss when absent.
//! Like the original, a failed transaction counts as "not present": an
//! error where "no" was expected is not a mismatch, so a dead server is
//! noticed at the first ADD of an absent session (`add failed!`) or the
//! first HAVE (`transaction failure`). Expiry and eviction are not
//! modelled.

use std::fmt;

use rand::Rng;

/// What `dc_test` drives: a cache reached through the client library.
/// Errors are failed transactions, reported with their reason.
pub trait Target {
    /// Why a transaction failed.
    type Error: fmt::Display;
    /// Stores a session; `Ok` only if the cache stored it.
    fn add(&mut self, id: &[u8], data: &[u8], timeout_ms: u32) -> Result<(), Self::Error>;
    /// Fetches a session into `buf`: `true` on a hit.
    fn get_into(&mut self, id: &[u8], buf: &mut Vec<u8>) -> Result<bool, Self::Error>;
    /// Deletes a session: `true` if it was stored.
    fn remove(&mut self, id: &[u8]) -> Result<bool, Self::Error>;
    /// Whether a session is stored.
    fn has(&mut self, id: &[u8]) -> Result<bool, Self::Error>;
}

impl Target for dc_ctx::Client {
    type Error = dc_ctx::ClientError;

    fn add(&mut self, id: &[u8], data: &[u8], timeout_ms: u32) -> Result<(), Self::Error> {
        dc_ctx::Client::add(self, id, data, timeout_ms)
    }

    fn get_into(&mut self, id: &[u8], buf: &mut Vec<u8>) -> Result<bool, Self::Error> {
        dc_ctx::Client::get_into(self, id, buf)
    }

    fn remove(&mut self, id: &[u8]) -> Result<bool, Self::Error> {
        dc_ctx::Client::remove(self, id)
    }

    fn has(&mut self, id: &[u8]) -> Result<bool, Self::Error> {
        dc_ctx::Client::has(self, id)
    }
}

/// Shortest generated session id, in bytes (the original's choice).
pub const MIN_ID_LEN: usize = 10;
/// Longest generated session id, in bytes.
pub const MAX_ID_LEN: usize = 63;

/// One test session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Random id, [`MIN_ID_LEN`] to [`MAX_ID_LEN`] bytes.
    pub id: Vec<u8>,
    /// Random data.
    pub data: Vec<u8>,
}

/// Makes `count` sessions with distinct random ids and data lengths drawn
/// from `datamin..datamax`.
pub fn generate_sessions(
    rng: &mut impl Rng,
    count: usize,
    datamin: usize,
    datamax: usize,
) -> Vec<Session> {
    let mut sessions: Vec<Session> = Vec::with_capacity(count);
    while sessions.len() < count {
        let mut id = vec![0u8; rng.gen_range(MIN_ID_LEN..=MAX_ID_LEN)];
        rng.fill(&mut id[..]);
        // Two equal ids would break the model; at 10+ random bytes this
        // never happens in practice, but it costs nothing to be sure.
        if sessions.iter().any(|s| s.id == id) {
            continue;
        }
        let mut data = vec![0u8; rng.gen_range(datamin..datamax.max(datamin + 1))];
        rng.fill(&mut data[..]);
        sessions.push(Session { id, data });
    }
    sessions
}

/// How many operations to run and how to time ADDs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Operations to run.
    pub ops: u64,
    /// Call the progress hook every this many operations (0: never).
    pub progress: u64,
    /// ADD lifetime in seconds.
    pub timeout_s: u32,
    /// ADD lifetime variation in seconds, below `timeout_s`.
    pub timevar_s: u32,
}

impl Plan {
    /// A random ADD timeout: `(timeout - timevar) * 1000 + rand mod (2000 *
    /// timevar)` milliseconds, the original's formula (without its division
    /// by zero when `timevar` is 0).
    pub fn add_timeout_ms(&self, rng: &mut impl Rng) -> u32 {
        let base = self
            .timeout_s
            .saturating_sub(self.timevar_s)
            .saturating_mul(1000);
        let spread = self.timevar_s.saturating_mul(2000);
        let offset = if spread == 0 {
            0
        } else {
            rng.gen_range(0..spread)
        };
        base.saturating_add(offset)
    }
}

/// The first disagreement between the cache and the model, in the
/// original's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mismatch {
    /// ADD of an absent session failed.
    AddFailed,
    /// ADD of a present session succeeded.
    AddSucceeded,
    /// REMOVE of a present session failed.
    RemoveFailed,
    /// REMOVE of an absent session succeeded.
    RemoveSucceeded,
    /// GET of a present session failed.
    GetFailed,
    /// GET of an absent session succeeded.
    GetSucceeded,
    /// GET returned other bytes than were stored.
    MismatchedSession,
    /// HAVE said a present session is absent.
    HaveFailed,
    /// HAVE said an absent session is present.
    HaveSucceeded,
    /// HAVE failed as a transaction.
    TransactionFailure,
}

impl Mismatch {
    /// The original's phrase; scripts grep for these.
    pub fn phrase(self) -> &'static str {
        match self {
            Mismatch::AddFailed => "add failed!",
            Mismatch::AddSucceeded => "add succeeded and shouldn't have!",
            Mismatch::RemoveFailed => "remove failed!",
            Mismatch::RemoveSucceeded => "remove succeeded and shouldn't have!",
            Mismatch::GetFailed => "get failed!",
            Mismatch::GetSucceeded => "get succeeded and shouldn't have!",
            Mismatch::MismatchedSession => "received mismatched session",
            Mismatch::HaveFailed => "have failed!",
            Mismatch::HaveSucceeded => "have succeeded and shouldn't have!",
            Mismatch::TransactionFailure => "transaction failure",
        }
    }
}

/// Why a run stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What disagreed.
    pub mismatch: Mismatch,
    /// The failed transaction's error, when there was one.
    pub reason: Option<String>,
    /// Operations that passed before this one.
    pub succeeded: u64,
}

impl fmt::Display for Failure {
    /// The original's phrase first, so scripts matching it keep working,
    /// then the reason in parentheses.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.mismatch.phrase())?;
        if let Some(reason) = &self.reason {
            write!(f, " ({reason})")?;
        }
        Ok(())
    }
}

/// Runs `plan.ops` random operations on `sessions` through `target`,
/// calling `on_progress(count)` every `plan.progress` operations. Stops at
/// the first mismatch.
pub fn run<T: Target>(
    target: &mut T,
    sessions: &[Session],
    plan: &Plan,
    rng: &mut impl Rng,
    mut on_progress: impl FnMut(u64),
) -> Result<(), Failure> {
    if sessions.is_empty() {
        return Ok(());
    }
    let mut present = vec![false; sessions.len()];
    let mut fetched = Vec::new();
    for done in 0..plan.ops {
        let index = rng.gen_range(0..sessions.len());
        let session = &sessions[index];
        let was_present = present[index];
        let fail = |mismatch, reason: Option<&T::Error>| Failure {
            mismatch,
            reason: reason.map(ToString::to_string),
            succeeded: done,
        };
        match rng.gen_range(0..4u8) {
            0 => {
                let timeout_ms = plan.add_timeout_ms(rng);
                match (
                    target.add(&session.id, &session.data, timeout_ms),
                    was_present,
                ) {
                    (Ok(()), true) => return Err(fail(Mismatch::AddSucceeded, None)),
                    (Ok(()), false) => present[index] = true,
                    (Err(_), true) => {}
                    (Err(e), false) => return Err(fail(Mismatch::AddFailed, Some(&e))),
                }
            }
            1 => {
                match (target.remove(&session.id), was_present) {
                    (Ok(true), true) => {}
                    (Ok(false), true) => return Err(fail(Mismatch::RemoveFailed, None)),
                    (Err(e), true) => return Err(fail(Mismatch::RemoveFailed, Some(&e))),
                    (Ok(true), false) => return Err(fail(Mismatch::RemoveSucceeded, None)),
                    (Ok(false) | Err(_), false) => {}
                }
                present[index] = false;
            }
            2 => match (target.get_into(&session.id, &mut fetched), was_present) {
                (Ok(true), true) if fetched == session.data => {}
                (Ok(true), true) => return Err(fail(Mismatch::MismatchedSession, None)),
                (Ok(false), true) => return Err(fail(Mismatch::GetFailed, None)),
                (Err(e), true) => return Err(fail(Mismatch::GetFailed, Some(&e))),
                (Ok(true), false) => return Err(fail(Mismatch::GetSucceeded, None)),
                (Ok(false) | Err(_), false) => {}
            },
            _ => match (target.has(&session.id), was_present) {
                (Err(e), _) => return Err(fail(Mismatch::TransactionFailure, Some(&e))),
                (Ok(true), true) | (Ok(false), false) => {}
                (Ok(false), true) => return Err(fail(Mismatch::HaveFailed, None)),
                (Ok(true), false) => return Err(fail(Mismatch::HaveSucceeded, None)),
            },
        }
        let count = done + 1;
        if plan.progress != 0 && count % plan.progress == 0 {
            on_progress(count);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
