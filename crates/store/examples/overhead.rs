//! Measures what [`MemoryStore`] costs per session beyond the session's own
//! id and data, as the growth of this process's resident set (VmRSS) while
//! the store fills, then after as many again have churned through it.
//!
//! ```text
//! cargo run --release -p dc_store --example overhead [SESSIONS] [DATA_LEN | MIN-MAX]
//! ```
//!
//! Defaults: 1,000,000 sessions of a 32-byte id and 200 bytes of data. The
//! sessions arrive at a steady rate with a 300 s timeout, as from a busy TLS
//! front end; in the churn phase the clock runs on for another SESSIONS adds,
//! so every session of the fill expires and is replaced. Ids and data are
//! made on the stack, so the store is the only thing that grows the heap.

use std::process::ExitCode;

use dc_store::{AddOutcome, Limits, MemoryStore, SessionStore};

const ID_LEN: usize = 32;
const TIMEOUT_MS: u64 = 300_000;

fn id(i: u64) -> [u8; ID_LEN] {
    let mut id = [0u8; ID_LEN];
    id[..8].copy_from_slice(&i.to_le_bytes());
    id[24..].copy_from_slice(&i.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes());
    id
}

/// Resident set size of this process, in bytes.
fn rss() -> Result<u64, String> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| format!("cannot read /proc/self/status: {e}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .ok_or_else(|| "no VmRSS line in /proc/self/status".to_string())
}

/// Data lengths: one fixed length, or a spread `min..=max` picked per
/// session by a cheap hash of its number.
#[derive(Clone, Copy)]
struct DataLen {
    min: usize,
    max: usize,
}

impl DataLen {
    fn parse(arg: &str) -> Result<DataLen, String> {
        let bad = || format!("data length must be N or MIN-MAX (at most 32759), got {arg:?}");
        let (min, max) = match arg.split_once('-') {
            Some((a, b)) => (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?),
            None => {
                let n = arg.parse().map_err(|_| bad())?;
                (n, n)
            }
        };
        if min > max || max > 32_759 {
            return Err(bad());
        }
        Ok(DataLen { min, max })
    }

    fn of(self, i: u64) -> usize {
        let spread = (self.max - self.min + 1) as u64;
        self.min + (i.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) as usize % spread as usize
    }
}

/// Adds session `i`, which arrives at `now` = its place in a steady stream
/// of `rate_per_timeout` sessions per timeout.
fn add(store: &mut MemoryStore, i: u64, rate_per_timeout: u64, len: DataLen, data: &[u8]) {
    let now = i * TIMEOUT_MS / rate_per_timeout;
    let outcome = store.add(&id(i), &data[..len.of(i)], now + TIMEOUT_MS, now);
    assert_eq!(outcome, AddOutcome::Stored, "session {i}");
}

fn report(phase: &str, store: &MemoryStore, grown: u64) {
    let stats = store.stats();
    let sessions = stats.sessions.max(1) as f64;
    let beyond = grown as f64 - stats.bytes as f64;
    println!(
        "{phase:>6}: {:>9} sessions, {:>7.1} MiB of id+data, RSS +{:>7.1} MiB: {:>6.1} bytes/session beyond id+data",
        stats.sessions,
        stats.bytes as f64 / (1 << 20) as f64,
        grown as f64 / (1 << 20) as f64,
        beyond / sessions,
    );
}

fn run() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let sessions: u64 = match args.next() {
        Some(n) => n
            .replace('_', "")
            .parse()
            .map_err(|_| format!("SESSIONS must be a number, got {n:?}"))?,
        None => 1_000_000,
    };
    let len = DataLen::parse(&args.next().unwrap_or_else(|| "200".into()))?;
    let data = vec![0xd5u8; len.max];

    let before = rss()?;
    let limits = Limits::new(usize::try_from(sessions).unwrap_or(usize::MAX), usize::MAX)
        .map_err(|e| e.to_string())?;
    let mut store = MemoryStore::new(limits);
    for i in 0..sessions {
        add(&mut store, i, sessions, len, &data);
    }
    report("fill", &store, rss()?.saturating_sub(before));
    for i in sessions..2 * sessions {
        add(&mut store, i, sessions, len, &data);
    }
    report("churn", &store, rss()?.saturating_sub(before));
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("overhead: {e}");
            ExitCode::FAILURE
        }
    }
}
