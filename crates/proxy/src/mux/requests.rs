//! The client requests in progress: each one's operations, where each
//! stands on its way through the pool's replicas, and the deadline by
//! which the client is answered whatever the servers do.
//!
//! ```text
//!   client request (one slot in the client's Answers)
//!     └─ ops[0]: tried {b, c}, waiting {c}     -> link c, uid 17
//!     └─ ops[1]: reply NotFound (a, then c missed) -> done
//!   all ops done -> the front door composes the answer -> the slot
//! ```
//!
//! A request's deadline is its arrival plus the upstream timeout. The
//! timeout is the same for every request, so deadlines come in arrival
//! order and a queue finds the next one without a scan.

use std::collections::VecDeque;
use std::time::Instant;

use dc_ops::{Op, OpBuf, ReplyBuf};
use dc_protocol::Operation;
use slab::Slab;

use crate::front::DeferredRequest;
use crate::mux::ClientId;

/// Most operations one request may carry (a multi-key `GET` or `DEL`);
/// the front doors accept no more keys than this in one command.
pub(crate) const MAX_OPS: usize = u16::MAX as usize;

/// One operation of one request in progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct OpRef {
    key: usize,
    serial: u64,
    index: u16,
}

impl OpRef {
    #[cfg(test)]
    pub(crate) fn for_tests(n: u64) -> OpRef {
        OpRef {
            key: n as usize,
            serial: n,
            index: 0,
        }
    }

    /// An operation of no request: a reply to it is dropped (for the
    /// multiplexer's own repairs).
    pub(crate) fn detached() -> OpRef {
        OpRef {
            key: usize::MAX,
            serial: u64::MAX,
            index: 0,
        }
    }

    /// The request it belongs to.
    pub(crate) fn request(self) -> RequestRef {
        RequestRef {
            key: self.key,
            serial: self.serial,
        }
    }

    /// Its place in the request.
    pub(crate) fn index(self) -> usize {
        usize::from(self.index)
    }
}

/// One request in progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct RequestRef {
    key: usize,
    serial: u64,
}

impl RequestRef {
    /// Operation `index` of it.
    pub(crate) fn op(self, index: usize) -> OpRef {
        OpRef {
            key: self.key,
            serial: self.serial,
            index: u16::try_from(index).unwrap_or(u16::MAX),
        }
    }
}

/// How the answer is made once every operation has its reply.
#[derive(Debug)]
pub(crate) enum Compose {
    /// A distcache 1.x request: one operation, answered under the
    /// client's request_uid.
    Distcache {
        /// The uid the client used.
        client_uid: u32,
        /// Its operation (the answer echoes it).
        operation: Operation,
        /// The operation it asked for.
        op: OpBuf,
    },
    /// A RESP or memcache request: its front door composes the answer
    /// from the replies.
    Deferred(DeferredRequest),
}

impl Compose {
    /// The request's operations.
    pub(crate) fn ops(&self) -> &[OpBuf] {
        match self {
            Compose::Distcache { op, .. } => std::slice::from_ref(op),
            Compose::Deferred(request) => request.ops(),
        }
    }
}

/// Where one operation stands.
#[derive(Debug, Clone, Default)]
pub(crate) struct OpState {
    /// Its final reply, once known.
    pub reply: Option<ReplyBuf>,
    /// The links it was sent to (bit `i`: link `i`), so no replica is
    /// asked twice.
    pub tried: u64,
    /// The links asked that have not answered yet (bit `i`: link `i`).
    pub waiting: u64,
    /// A read's hit from a replica that another, before it on the ring,
    /// may still contradict: (link, reply).
    pub hit: Option<(usize, ReplyBuf)>,
    /// Replicas that answered a read with a miss (the answer if no other
    /// holds the key).
    pub misses: u16,
    /// Replicas that answered a write without settling it (see
    /// `settles_write`): they count as holding their copy.
    pub answered: u16,
    /// A write's reply held while other replicas may still contradict it
    /// (see `settles_write`).
    pub best: Option<ReplyBuf>,
    /// The links that stored an ADD (bit `i`: link `i`), to undo it there
    /// if another replica refused it.
    pub stored_on: u64,
}

/// A client request in progress.
#[derive(Debug)]
pub(crate) struct Pending {
    /// Who asked.
    pub client: ClientId,
    /// The client's answer slot.
    pub seq: u64,
    /// How to answer.
    pub compose: Compose,
    /// Each operation's progress, as `compose.ops()`.
    pub ops: Vec<OpState>,
    /// Operations without their final reply.
    pub open: usize,
    serial: u64,
}

impl Pending {
    /// Operation `index`, borrowed.
    pub(crate) fn op(&self, index: usize) -> Option<Op<'_>> {
        self.compose.ops().get(index).map(OpBuf::op)
    }
}

/// The requests in progress.
#[derive(Debug, Default)]
pub(crate) struct Requests {
    table: Slab<Pending>,
    next_serial: u64,
    /// (request, deadline) in arrival order; answered ones are skipped.
    deadlines: VecDeque<(RequestRef, Instant)>,
}

impl Requests {
    /// Records a request; `deadline` is when it is answered at the latest.
    pub(crate) fn insert(
        &mut self,
        client: ClientId,
        seq: u64,
        compose: Compose,
        deadline: Option<Instant>,
    ) -> RequestRef {
        let serial = self.next_serial;
        self.next_serial += 1;
        let n = compose.ops().len();
        let key = self.table.insert(Pending {
            client,
            seq,
            compose,
            ops: vec![OpState::default(); n],
            open: n,
            serial,
        });
        let request = RequestRef { key, serial };
        if let Some(deadline) = deadline {
            self.deadlines.push_back((request, deadline));
        }
        request
    }

    /// The request, if it is still in progress.
    pub(crate) fn get(&self, request: RequestRef) -> Option<&Pending> {
        self.table
            .get(request.key)
            .filter(|p| p.serial == request.serial)
    }

    /// The request, to change.
    pub(crate) fn get_mut(&mut self, request: RequestRef) -> Option<&mut Pending> {
        self.table
            .get_mut(request.key)
            .filter(|p| p.serial == request.serial)
    }

    /// An operation of a request in progress, with its progress to
    /// change.
    pub(crate) fn op_mut(&mut self, op: OpRef) -> Option<(Op<'_>, &mut OpState)> {
        let pending = self.get_mut(op.request())?;
        let index = op.index();
        let operation = pending.compose.ops().get(index).map(OpBuf::op)?;
        let state = pending.ops.get_mut(index)?;
        Some((operation, state))
    }

    /// Takes a request out (it was answered).
    pub(crate) fn remove(&mut self, request: RequestRef) -> Option<Pending> {
        self.get(request)?;
        let pending = self.table.remove(request.key);
        self.prune();
        Some(pending)
    }

    /// Requests in progress.
    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    /// The earliest deadline of a request in progress.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.front().map(|&(_, at)| at)
    }

    /// The requests whose deadline has come at `now`, oldest first.
    pub(crate) fn due(&mut self, now: Instant) -> Vec<RequestRef> {
        let mut due = Vec::new();
        while let Some(&(request, at)) = self.deadlines.front() {
            if at > now {
                break;
            }
            self.deadlines.pop_front();
            if self.get(request).is_some() {
                due.push(request);
            }
        }
        self.prune();
        due
    }

    fn prune(&mut self) {
        while let Some(&(request, _)) = self.deadlines.front() {
            if self.get(request).is_some() {
                return;
            }
            self.deadlines.pop_front();
        }
    }
}
