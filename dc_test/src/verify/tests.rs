//! The verify loop against in-memory caches: a correct one passes, and each
//! deliberately wrong one is caught with the original's error phrase.

use std::collections::HashMap;

use rand::rngs::StdRng;
use rand::SeedableRng;

use super::*;

/// What a wrong cache gets wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    None,
    RefusesAdds,
    AcceptsDuplicateAdds,
    RemoveReportsAbsent,
    RemoveReportsPresent,
    GetCorrupts,
    GetAlwaysMisses,
    GetHitsWhenAbsent,
    HaveAlwaysFalse,
    HaveAlwaysTrue,
    HaveErrors,
    /// Every transaction fails, like a dead server.
    Dead,
    /// A lookup miss is reported as an error (GET and REMOVE only).
    LookupMissesFail,
}

#[derive(Debug, Default)]
struct Memory {
    fault: Option<Fault>,
    store: HashMap<Vec<u8>, Vec<u8>>,
    calls: u64,
    timeouts: Vec<u32>,
}

impl Memory {
    fn with(fault: Fault) -> Memory {
        Memory {
            fault: Some(fault),
            ..Memory::default()
        }
    }

    fn is(&self, fault: Fault) -> bool {
        self.fault == Some(fault)
    }

    fn dead(&mut self) -> Result<(), String> {
        self.calls += 1;
        if self.is(Fault::Dead) {
            Err("connection refused".into())
        } else {
            Ok(())
        }
    }
}

impl Target for Memory {
    type Error = String;

    fn add(&mut self, id: &[u8], data: &[u8], timeout_ms: u32) -> Result<(), String> {
        self.dead()?;
        self.timeouts.push(timeout_ms);
        if self.is(Fault::RefusesAdds) {
            return Err("refused: MATCHING_SESSION (101)".into());
        }
        if self.store.contains_key(id) && !self.is(Fault::AcceptsDuplicateAdds) {
            return Err("refused: MATCHING_SESSION (101)".into());
        }
        self.store.insert(id.to_vec(), data.to_vec());
        Ok(())
    }

    fn get_into(&mut self, id: &[u8], buf: &mut Vec<u8>) -> Result<bool, String> {
        self.dead()?;
        buf.clear();
        match self.store.get(id) {
            _ if self.is(Fault::GetAlwaysMisses) => Ok(false),
            Some(data) => {
                buf.extend_from_slice(data);
                if self.is(Fault::GetCorrupts) {
                    buf[0] ^= 1;
                }
                Ok(true)
            }
            None if self.is(Fault::GetHitsWhenAbsent) => {
                buf.extend_from_slice(b"something");
                Ok(true)
            }
            None if self.is(Fault::LookupMissesFail) => Err("short answer".into()),
            None => Ok(false),
        }
    }

    fn remove(&mut self, id: &[u8]) -> Result<bool, String> {
        self.dead()?;
        let removed = self.store.remove(id).is_some();
        match self.fault {
            Some(Fault::RemoveReportsAbsent) => Ok(false),
            Some(Fault::RemoveReportsPresent) => Ok(true),
            Some(Fault::LookupMissesFail) if !removed => Err("short answer".into()),
            _ => Ok(removed),
        }
    }

    fn has(&mut self, id: &[u8]) -> Result<bool, String> {
        self.dead()?;
        match self.fault {
            Some(Fault::HaveAlwaysFalse) => Ok(false),
            Some(Fault::HaveAlwaysTrue) => Ok(true),
            Some(Fault::HaveErrors) => Err("empty answer".into()),
            _ => Ok(self.store.contains_key(id)),
        }
    }
}

fn plan(ops: u64) -> Plan {
    Plan {
        ops,
        progress: 0,
        timeout_s: 60,
        timevar_s: 5,
    }
}

fn run_with(target: &mut Memory, seed: u64, sessions: usize, ops: u64) -> Result<(), Failure> {
    let mut rng = StdRng::seed_from_u64(seed);
    let sessions = generate_sessions(&mut rng, sessions, 50, 2100);
    run(target, &sessions, &plan(ops), &mut rng, |_| {})
}

#[test]
fn a_correct_cache_passes() {
    for seed in 0..20 {
        let mut cache = Memory::with(Fault::None);
        assert_eq!(run_with(&mut cache, seed, 10, 1000), Ok(()), "seed {seed}");
        assert_eq!(cache.calls, 1000);
    }
}

#[test]
fn failed_lookups_of_absent_sessions_are_not_mismatches() {
    // The original counts a failed transaction as "not present".
    let mut cache = Memory::with(Fault::LookupMissesFail);
    assert_eq!(run_with(&mut cache, 3, 10, 2000), Ok(()));
}

#[test]
fn each_wrong_cache_is_caught_with_the_original_phrase() {
    let cases = [
        (
            Fault::RefusesAdds,
            "add failed! (refused: MATCHING_SESSION (101))",
        ),
        (
            Fault::AcceptsDuplicateAdds,
            "add succeeded and shouldn't have!",
        ),
        (Fault::RemoveReportsAbsent, "remove failed!"),
        (
            Fault::RemoveReportsPresent,
            "remove succeeded and shouldn't have!",
        ),
        (Fault::GetCorrupts, "received mismatched session"),
        (Fault::GetAlwaysMisses, "get failed!"),
        (
            Fault::GetHitsWhenAbsent,
            "get succeeded and shouldn't have!",
        ),
        (Fault::HaveAlwaysFalse, "have failed!"),
        (Fault::HaveAlwaysTrue, "have succeeded and shouldn't have!"),
        (Fault::HaveErrors, "transaction failure (empty answer)"),
    ];
    for (fault, expected) in cases {
        for seed in 0..5 {
            let mut cache = Memory::with(fault);
            let failure = run_with(&mut cache, seed, 4, 10_000).unwrap_err();
            assert_eq!(failure.to_string(), expected, "{fault:?} seed {seed}");
            // Every call before the failing one passed.
            assert_eq!(failure.succeeded + 1, cache.calls, "{fault:?} seed {seed}");
        }
    }
}

#[test]
fn a_dead_server_is_noticed_at_the_first_add_or_have() {
    for seed in 0..20 {
        let mut cache = Memory::with(Fault::Dead);
        let failure = run_with(&mut cache, seed, 10, 1000).unwrap_err();
        assert!(
            matches!(
                failure.mismatch,
                Mismatch::AddFailed | Mismatch::TransactionFailure
            ),
            "{failure:?}"
        );
        assert_eq!(failure.reason.as_deref(), Some("connection refused"));
        assert_eq!(failure.succeeded + 1, cache.calls);
    }
}

#[test]
fn progress_is_reported_at_each_multiple() {
    let mut rng = StdRng::seed_from_u64(1);
    let sessions = generate_sessions(&mut rng, 3, 5, 6);
    let mut seen = Vec::new();
    let plan = Plan {
        progress: 10,
        ..plan(35)
    };
    run(&mut Memory::default(), &sessions, &plan, &mut rng, |n| {
        seen.push(n)
    })
    .unwrap();
    assert_eq!(seen, vec![10, 20, 30]);
}

#[test]
fn sessions_follow_the_limits() {
    let mut rng = StdRng::seed_from_u64(9);
    let sessions = generate_sessions(&mut rng, 512, 50, 60);
    assert_eq!(sessions.len(), 512);
    for s in &sessions {
        assert!((MIN_ID_LEN..=MAX_ID_LEN).contains(&s.id.len()));
        assert!((50..60).contains(&s.data.len()));
    }
    let mut ids: Vec<_> = sessions.iter().map(|s| &s.id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 512);
    // Both ends of the id range occur.
    assert!(sessions.iter().any(|s| s.id.len() == MIN_ID_LEN));
    assert!(sessions.iter().any(|s| s.id.len() == MAX_ID_LEN));
}

#[test]
fn the_same_seed_repeats_the_run() {
    let record = |seed| {
        let mut cache = Memory::default();
        run_with(&mut cache, seed, 5, 300).unwrap();
        (
            cache.timeouts,
            cache
                .store
                .into_iter()
                .collect::<std::collections::BTreeMap<_, _>>(),
        )
    };
    assert_eq!(record(42), record(42));
    assert_ne!(record(42), record(43));
}

#[test]
fn add_timeouts_follow_the_original_formula() {
    let mut rng = StdRng::seed_from_u64(5);
    let p = plan(0);
    let timeouts: Vec<u32> = (0..10_000).map(|_| p.add_timeout_ms(&mut rng)).collect();
    assert!(timeouts.iter().all(|t| (55_000..65_000).contains(t)));
    assert!(timeouts.iter().any(|&t| t < 56_000) && timeouts.iter().any(|&t| t >= 64_000));
    // timevar 0: the original divided by zero here.
    let fixed = Plan {
        timeout_s: 1,
        timevar_s: 0,
        ..p
    };
    assert_eq!(fixed.add_timeout_ms(&mut rng), 1000);
    let widest = Plan {
        timeout_s: 3600,
        timevar_s: 3599,
        ..p
    };
    for _ in 0..1000 {
        let t = widest.add_timeout_ms(&mut rng);
        assert!(
            t > dc_ctx::MIN_ADD_TIMEOUT_MS && t < 1000 + 2000 * 3599,
            "{t}"
        );
    }
}
