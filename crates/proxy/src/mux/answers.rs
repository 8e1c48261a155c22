//! One local client's answers, kept in the order of its requests.
//!
//! A client may pipeline. Its requests are answered from two places — the
//! cache servers, or the multiplexer itself (a refused request, a failure
//! while no server can answer) — and the servers of a pool answer in any
//! order. Each request therefore gets a slot, numbered in arrival order;
//! an answer fills its slot, and answers leave for the client's output only
//! from the front of the queue:
//!
//! ```text
//!   slots:   seq 7 [waiting]  seq 8 [answer ready]  seq 9 [waiting]
//!   output:  <- nothing yet: seq 7 holds up 8
//!   seq 7 answered -> output gets 7 then 8; seq 9 is now the front
//! ```
//!
//! Answers arrive encoded in the client's protocol. In the common case (one
//! request at a time, or answers in order) the front slot is the one
//! answered and its answer goes straight into the output buffer; only an
//! answer that has to wait for an earlier one is held in its own
//! allocation.
//!
//! For the latency histogram, each answer in the output remembers when its
//! request was complete and where it ends in the byte stream; when the
//! driver reports bytes written, the answers now wholly written are timed.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use nal::{Buffer, BufferFull};

/// An answer owed to the client.
#[derive(Debug)]
struct Slot {
    /// When the request was complete.
    since: Instant,
    /// The encoded answer, once it came while an earlier slot still waited.
    ready: Option<Vec<u8>>,
}

/// A client's owed answers and the bytes ready to be written to it.
#[derive(Debug)]
pub(crate) struct Answers {
    slots: VecDeque<Slot>,
    /// Sequence number of `slots[0]`.
    first_seq: u64,
    out: Buffer,
    /// For each answer in `out`: where it ends (in bytes ever appended) and
    /// when its request was complete.
    timing: VecDeque<(u64, Instant)>,
    /// Bytes ever appended to `out`.
    appended: u64,
    /// Bytes ever written from `out`, as reported.
    written: u64,
}

impl Answers {
    pub(crate) fn new(output_cap: usize) -> Answers {
        Answers {
            slots: VecDeque::new(),
            first_seq: 0,
            out: Buffer::new(output_cap),
            timing: VecDeque::new(),
            appended: 0,
            written: 0,
        }
    }

    /// Answers still owed (forwarded, or held behind one that is).
    pub(crate) fn owed(&self) -> usize {
        self.slots.len()
    }

    pub(crate) fn out(&self) -> &Buffer {
        &self.out
    }

    pub(crate) fn out_mut(&mut self) -> &mut Buffer {
        &mut self.out
    }

    /// Reserves the next slot for a request that will be answered later and
    /// returns its sequence number.
    /// `now` is when the request was complete.
    pub(crate) fn open(&mut self, now: Instant) -> u64 {
        let seq = self.first_seq + self.slots.len() as u64;
        self.slots.push_back(Slot {
            since: now,
            ready: None,
        });
        seq
    }

    /// Answers a request at once: straight to the output when nothing is
    /// owed before it, otherwise behind the answers it must follow.
    pub(crate) fn answer_now(&mut self, answer: &[u8], now: Instant) -> Result<(), BufferFull> {
        if self.slots.is_empty() {
            let before = self.out.len();
            self.out.extend(answer)?;
            self.appended_answer(before, now);
            return Ok(());
        }
        let seq = self.open(now);
        self.fill(seq, answer)
    }

    /// Notes `bytes` written from the output at `now`, and gives `observe`
    /// the latency of every answer now written whole.
    pub(crate) fn written(
        &mut self,
        bytes: usize,
        now: Instant,
        mut observe: impl FnMut(Duration),
    ) {
        self.written += bytes as u64;
        if self.out.is_empty() {
            // Everything appended is out, whatever was reported.
            self.written = self.appended;
        }
        while let Some(&(end, since)) = self.timing.front() {
            if end > self.written {
                break;
            }
            observe(now.saturating_duration_since(since));
            self.timing.pop_front();
        }
    }

    fn appended_answer(&mut self, out_len_before: usize, since: Instant) {
        self.appended += (self.out.len() - out_len_before) as u64;
        self.timing.push_back((self.appended, since));
    }

    /// Fills slot `seq` with its answer and moves every answer that is now
    /// at the front to the output. A slot that is not open (already
    /// answered) is ignored.
    ///
    /// `Err` means the output cap was hit: the client is not reading and
    /// must be cut off; the queue is then in no useful state.
    pub(crate) fn fill(&mut self, seq: u64, answer: &[u8]) -> Result<(), BufferFull> {
        let Some(index) = seq
            .checked_sub(self.first_seq)
            .and_then(|i| usize::try_from(i).ok())
        else {
            return Ok(());
        };
        let Some(slot) = self.slots.get_mut(index) else {
            return Ok(());
        };
        if slot.ready.is_some() {
            return Ok(());
        }
        if index > 0 {
            slot.ready = Some(answer.to_vec());
            return Ok(());
        }
        let since = slot.since;
        let before = self.out.len();
        self.out.extend(answer)?;
        self.appended_answer(before, since);
        self.pop_front();
        while let Some(front) = self.slots.front_mut() {
            let Some(bytes) = front.ready.take() else {
                break;
            };
            let since = front.since;
            let before = self.out.len();
            if let Err(full) = self.out.extend(&bytes) {
                // Put it back so the queue still says what is owed.
                front.ready = Some(bytes);
                return Err(full);
            }
            self.appended_answer(before, since);
            self.pop_front();
        }
        Ok(())
    }

    fn pop_front(&mut self) {
        self.slots.pop_front();
        self.first_seq += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dc_protocol::{encode, CommandHeader, Decoder, Kind, Operation};

    fn frame(uid: u32, operation: Operation, payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        encode(&mut v, CommandHeader::response(uid, operation), payload).unwrap();
        v
    }

    fn t0() -> Instant {
        thread_local!(static T0: Instant = Instant::now());
        T0.with(|t| *t)
    }

    /// (uid, payload) of every answer in `out`.
    fn answers(out: &Buffer) -> Vec<(u32, Vec<u8>)> {
        let mut decoder = Decoder::new(Kind::Response);
        let mut input = out.as_slice();
        let mut got = Vec::new();
        loop {
            let d = decoder.decode(input).unwrap();
            input = &input[d.consumed..];
            match d.command {
                Some(c) => got.push((c.request_uid, c.payload.to_vec())),
                None => break,
            }
        }
        assert!(input.is_empty());
        got
    }

    #[test]
    fn answers_leave_in_request_order() {
        let mut a = Answers::new(1 << 20);
        let s1 = a.open(t0());
        let s2 = a.open(t0());
        a.answer_now(&frame(30, Operation::Add, &[103]), t0())
            .unwrap();
        let s4 = a.open(t0());
        assert_eq!(a.owed(), 4);
        a.fill(s2, &frame(20, Operation::Have, &[0])).unwrap();
        a.fill(s4, &frame(40, Operation::Get, b"data!")).unwrap();
        assert!(a.out().is_empty(), "slot 1 holds up the rest");
        a.fill(s1, &frame(10, Operation::Get, b"hello")).unwrap();
        assert_eq!(
            answers(a.out()),
            vec![
                (10, b"hello".to_vec()),
                (20, vec![0]),
                (30, vec![103]),
                (40, b"data!".to_vec())
            ]
        );
        assert_eq!(a.owed(), 0);
        // Filling an answered or never-opened slot does nothing.
        a.fill(s1, &frame(10, Operation::Get, &[1])).unwrap();
        a.fill(99, &frame(99, Operation::Get, &[1])).unwrap();
        assert_eq!(answers(a.out()).len(), 4);
    }

    #[test]
    fn nothing_owed_goes_straight_out() {
        let mut a = Answers::new(1 << 20);
        a.answer_now(&frame(5, Operation::Have, &[2]), t0())
            .unwrap();
        assert_eq!(answers(a.out()), vec![(5, vec![2])]);
        assert_eq!(a.owed(), 0);
    }

    #[test]
    fn the_output_cap_is_reported() {
        let mut a = Answers::new(100);
        let s = a.open(t0());
        assert!(a.fill(s, &[7u8; 200]).is_err());
        let mut a = Answers::new(100);
        let s1 = a.open(t0());
        let s2 = a.open(t0());
        // Held behind s1, then both go out: 95 + 10 bytes pass the cap.
        a.fill(s2, &[7u8; 95]).unwrap();
        a.fill(s1, &[7u8; 10]).unwrap_err();
    }

    #[test]
    fn answers_are_timed_when_written_whole() {
        let ms = Duration::from_millis;
        let mut a = Answers::new(1 << 20);
        let s1 = a.open(t0());
        let s2 = a.open(t0() + ms(5));
        a.fill(s2, &frame(2, Operation::Have, &[0])).unwrap();
        a.fill(s1, &frame(1, Operation::Get, b"hello")).unwrap(); // 19 bytes, then 15
        a.answer_now(&frame(3, Operation::Have, &[1]), t0() + ms(8))
            .unwrap();
        let mut seen = Vec::new();
        // Half of the first answer: nothing is written whole yet.
        a.out_mut().consume(10);
        a.written(10, t0() + ms(10), |d| seen.push(d));
        assert!(seen.is_empty());
        a.out_mut().consume(9 + 15);
        a.written(9 + 15, t0() + ms(20), |d| seen.push(d));
        assert_eq!(seen, vec![ms(20), ms(15)]);
        // An empty output settles the count even if under-reported.
        a.out_mut().clear();
        a.written(0, t0() + ms(30), |d| seen.push(d));
        assert_eq!(seen, vec![ms(20), ms(15), ms(22)]);
        assert!(a.timing.is_empty());
    }
}
