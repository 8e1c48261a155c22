//! One client's share of the load: the ids it owns, the request it sends
//! next, and the check of each answer. Both drivers (pipelined and one
//! connection per operation) run the same [`Workload`]; neither it nor the
//! model does any I/O.

use std::time::Instant;

use dc_protocol::{Operation, MAX_ID_LEN};

use super::data::{Keyspace, SplitMix64};
use super::mix::Mix;
use super::model::{Answer, Model, Outcome, Window, WrongAnswer};
use super::wire::{Ask, Wire};

/// The ids one connection owns: `first`, `first + stride`, ... below the
/// key space's size. Connection `c` of `n` owns the ids `i` with
/// `i % n == c`, so no two connections ever touch the same id and the
/// server applies every request on an id in the order it was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdShare {
    first: u32,
    stride: u32,
    count: u32,
}

impl IdShare {
    /// Connection `conn`'s share of `ids` ids split between `conns`
    /// connections. Empty if `conn >= ids`.
    pub fn new(conn: usize, conns: usize, ids: u32) -> IdShare {
        let conns = conns.max(1) as u64;
        let conn = conn as u64;
        let ids = u64::from(ids);
        let count = if conn < ids {
            (ids - conn).div_ceil(conns)
        } else {
            0
        };
        IdShare {
            first: u32::try_from(conn).unwrap_or(u32::MAX),
            stride: u32::try_from(conns).unwrap_or(u32::MAX),
            count: u32::try_from(count).unwrap_or(0),
        }
    }

    /// Number of ids in the share.
    pub fn len(&self) -> u32 {
        self.count
    }

    /// The global index of the share's `slot`-th id.
    pub fn index(&self, slot: u32) -> u32 {
        self.first + slot * self.stride
    }
}

/// Which part of the run a request belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// `--prefill`: one ADD per id, checked but not timed.
    Prefill,
    /// The measured run.
    Timed,
}

/// A request sent and not yet answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pending {
    /// Its uid; the answer must echo it.
    pub uid: u32,
    /// Its operation; the answer must carry the same.
    pub operation: Operation,
    /// The id's slot in the connection's share.
    pub slot: u32,
    /// For an ADD, the version of the data sent.
    pub version: u32,
    /// When it was sent (queued for the socket, or for the new-connection
    /// mode, when the connection was opened).
    pub sent: Instant,
    /// Whether it counts towards the measurement.
    pub timed: bool,
}

/// What every workload of a run shares.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// The ids and data.
    pub keyspace: Keyspace,
    /// The operation weights.
    pub mix: Mix,
    /// Lifetime every ADD asks for.
    pub ttl_ms: u32,
    /// Whether missing sessions are tolerated.
    pub allow_evictions: bool,
    /// Whether "no cache could answer" is tolerated.
    pub allow_outages: bool,
    /// Slack around each expiry (see [`TTL_MARGIN_MS`](super::model::TTL_MARGIN_MS)).
    pub ttl_margin_ms: u64,
    /// Time zero of the model's clock.
    pub origin: Instant,
}

/// One client: its ids and their model, its random stream and budget.
#[derive(Debug)]
pub struct Workload {
    plan: Plan,
    share: IdShare,
    model: Model,
    rng: SplitMix64,
    /// Timed requests left to send.
    budget: u64,
    /// Next slot to add during the prefill.
    prefill_next: u32,
    next_uid: u32,
    /// ADD versions: unique per connection, hence per id. Wraps after 2^32
    /// ADDs, far beyond any run.
    next_version: u32,
    /// Scratch for ADD data.
    data: Vec<u8>,
}

impl Workload {
    /// Client `conn` of `conns`, sending at most `budget` timed requests,
    /// its choices drawn from `seed`.
    pub fn new(
        plan: Plan,
        conn: usize,
        conns: usize,
        ids: u32,
        budget: u64,
        seed: u64,
    ) -> Workload {
        let share = IdShare::new(conn, conns, ids);
        Workload {
            plan,
            share,
            model: Model::with_margin(
                share.len() as usize,
                plan.ttl_ms,
                plan.allow_evictions,
                plan.ttl_margin_ms,
            )
            .with_outages(plan.allow_outages),
            rng: SplitMix64::new(seed),
            budget,
            prefill_next: 0,
            next_uid: 1,
            next_version: 1,
            data: Vec::new(),
        }
    }

    /// Largest request this workload encodes over `W`, in bytes on the
    /// wire.
    pub fn max_request_len<W: Wire>(&self) -> usize {
        let ks = &self.plan.keyspace;
        W::max_request_len(ks.id_len(), ks.data_max())
    }

    /// Largest answer a right server sends over `W`, in bytes on the wire.
    pub fn max_answer_len<W: Wire>(&self) -> usize {
        let ks = &self.plan.keyspace;
        W::max_answer_len(ks.id_len(), ks.data_max())
    }

    /// Whether there is another request to send in `phase`.
    pub fn wants_more(&self, phase: Phase) -> bool {
        match phase {
            Phase::Prefill => self.prefill_next < self.share.len(),
            Phase::Timed => self.budget > 0 && self.share.len() > 0,
        }
    }

    /// Picks the next request of `phase`, appends it to `out` as `wire`
    /// encodes it and returns what to expect, or `None` when the phase has
    /// no more.
    #[inline]
    pub fn next_request<W: Wire>(
        &mut self,
        phase: Phase,
        wire: &mut W,
        out: &mut Vec<u8>,
        now: Instant,
    ) -> Option<Pending> {
        if !self.wants_more(phase) {
            return None;
        }
        let (operation, slot) = match phase {
            Phase::Prefill => {
                self.prefill_next += 1;
                (Operation::Add, self.prefill_next - 1)
            }
            Phase::Timed => {
                self.budget -= 1;
                let operation = self.plan.mix.pick(self.rng.below(self.plan.mix.total()));
                let slot = self.rng.below(u64::from(self.share.len())) as u32;
                (operation, slot)
            }
        };
        let uid = self.next_uid;
        self.next_uid = self.next_uid.wrapping_add(1);
        let index = self.share.index(slot);
        let mut id_buf = [0u8; MAX_ID_LEN];
        let id = self.plan.keyspace.id(index, &mut id_buf);
        let mut version = 0;
        if operation == Operation::Add {
            version = self.next_version;
            self.next_version = self.next_version.wrapping_add(1);
            self.data.clear();
            self.plan
                .keyspace
                .write_data(index, version, &mut self.data);
        }
        let ask = Ask {
            operation,
            id,
            data: if operation == Operation::Add {
                &self.data
            } else {
                &[]
            },
            ttl_ms: self.plan.ttl_ms,
        };
        // Cannot fail: the command line keeps every payload within the
        // protocol's limits, and the run checked up front that the protocol
        // can send each operation of the mix (wire::check_mix). Were it to,
        // the server would see no request and the missing answer would be
        // reported as a stall.
        let _ = wire.encode(uid, &ask, out);
        Some(Pending {
            uid,
            operation,
            slot,
            version,
            sent: now,
            timed: phase == Phase::Timed,
        })
    }

    /// Checks `outcome`, the answer to `pending` read at `answered`, and
    /// updates the model.
    #[inline]
    pub fn settle(
        &mut self,
        pending: &Pending,
        outcome: Outcome<'_>,
        answered: Instant,
    ) -> Result<Answer, WrongAnswer> {
        let origin = self.plan.origin;
        let window = Window {
            sent_ms: pending.sent.saturating_duration_since(origin).as_millis() as u64,
            answered_ms: (answered.saturating_duration_since(origin).as_micros() as u64)
                .div_ceil(1000),
        };
        self.model.settle(
            pending.slot as usize,
            self.share.index(pending.slot),
            pending.operation,
            pending.version,
            outcome,
            window,
            &self.plan.keyspace,
        )
    }

    /// The id of global index `index`, in hex, for error messages.
    pub fn id_hex(&self, index: u32) -> String {
        let mut buf = [0u8; MAX_ID_LEN];
        self.plan
            .keyspace
            .id(index, &mut buf)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::model::TTL_MARGIN_MS;
    use crate::load::wire::{Distcache, Wire};
    use dc_protocol::{Decoder, Kind, Request, Response, Status};

    #[test]
    fn shares_partition_the_ids() {
        for (ids, conns) in [(10u32, 3usize), (10, 10), (10_000, 16), (7, 1)] {
            let mut seen = vec![0u8; ids as usize];
            for conn in 0..conns {
                let share = IdShare::new(conn, conns, ids);
                for slot in 0..share.len() {
                    let index = share.index(slot);
                    assert_eq!(index as usize % conns, conn);
                    seen[index as usize] += 1;
                }
            }
            assert!(seen.iter().all(|&n| n == 1), "{ids} ids, {conns} conns");
        }
        assert_eq!(IdShare::new(5, 8, 3).len(), 0);
    }

    fn plan(mix: &str) -> Plan {
        Plan {
            keyspace: Keyspace::new(3, 32, 24, 200),
            mix: mix.parse().unwrap(),
            ttl_ms: 60_000,
            allow_evictions: false,
            allow_outages: false,
            ttl_margin_ms: TTL_MARGIN_MS,
            origin: Instant::now(),
        }
    }

    /// Requests decode as what `Pending` says was sent, and a simple
    /// correct cache passes every check.
    #[test]
    fn requests_and_a_correct_cache_agree() {
        let mut work = Workload::new(plan("add=3,get=5,remove=1,have=1"), 1, 4, 40, 500, 9);
        let mut store = std::collections::HashMap::<Vec<u8>, Vec<u8>>::new();
        let mut decoder = Decoder::new(Kind::Request);
        let mut prefill = 0;
        let mut counts = [0u32; 4];
        for phase in [Phase::Prefill, Phase::Timed] {
            let mut out = Vec::new();
            let mut wire = Distcache::fresh();
            while let Some(pending) = work.next_request(phase, &mut wire, &mut out, Instant::now())
            {
                assert!(out.len() <= work.max_request_len::<Distcache>());
                let decoded = decoder.decode(&out).unwrap();
                assert_eq!(decoded.consumed, out.len());
                let command = decoded.command.unwrap();
                assert_eq!(
                    (command.request_uid, command.operation),
                    (pending.uid, pending.operation)
                );
                let request = Request::parse(command.operation, command.payload).unwrap();
                assert_eq!(request.id()[..8], [0, 0, 0, 3, 0, 0, 0, request.id()[7]]);
                let answer: Vec<u8> = match request {
                    Request::Add { id, data, .. } => {
                        if store.contains_key(id) {
                            vec![Status::AddMatchingSession.code()]
                        } else {
                            store.insert(id.to_vec(), data.to_vec());
                            vec![0]
                        }
                    }
                    Request::Get { id } => store.get(id).cloned().unwrap_or(vec![1]),
                    Request::Remove { id } => vec![u8::from(store.remove(id).is_none())],
                    Request::Have { id } => vec![u8::from(!store.contains_key(id))],
                };
                assert!(matches!(
                    Response::parse(pending.operation, &answer),
                    Ok(Response::Status(_) | Response::Session(_))
                ));
                work.settle(&pending, Outcome::Payload(&answer), Instant::now())
                    .unwrap();
                if phase == Phase::Prefill {
                    prefill += 1;
                } else {
                    counts[usize::from(pending.operation.to_byte())] += 1;
                }
                out.clear();
            }
        }
        assert_eq!(prefill, 10, "conn 1 of 4 owns 10 of 40 ids");
        assert_eq!(counts.iter().sum::<u32>(), 500);
        assert!(counts.iter().all(|&n| n > 20), "{counts:?}");
        assert!(!work.wants_more(Phase::Timed));
    }
}
