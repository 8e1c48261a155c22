//! Where the driver threads wait for each other between the prefill and
//! the timed phase, so the measurement starts with every connection ready.

use std::sync::{Condvar, Mutex, PoisonError};

/// A one-shot barrier whose number of parties can shrink: when a thread cannot be
/// started, [`withdraw`](Gate::withdraw) keeps the others from waiting for
/// it for ever (std's `Barrier` cannot do that).
#[derive(Debug)]
pub struct Gate {
    /// (arrived, expected).
    state: Mutex<(usize, usize)>,
    opened: Condvar,
}

impl Gate {
    /// A gate that opens once `parties` have arrived.
    pub fn new(parties: usize) -> Gate {
        Gate {
            state: Mutex::new((0, parties)),
            opened: Condvar::new(),
        }
    }

    /// Arrives and waits until every party has arrived (or withdrawn).
    pub fn wait(&self) {
        // A panicking party cannot leave the counts inconsistent: keep
        // going with them.
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.0 += 1;
        self.notify_if_open(&state);
        while state.0 < state.1 {
            state = self
                .opened
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// One party will never arrive.
    pub fn withdraw(&self) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.1 = state.1.saturating_sub(1);
        self.notify_if_open(&state);
    }

    fn notify_if_open(&self, state: &(usize, usize)) {
        if state.0 >= state.1 {
            self.opened.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_when_all_arrive_or_withdraw() {
        let gate = Gate::new(3);
        std::thread::scope(|s| {
            s.spawn(|| gate.wait());
            s.spawn(|| gate.wait());
            gate.withdraw();
        });
        // A gate with no parties left does not block.
        let gate = Gate::new(1);
        gate.withdraw();
        gate.wait();
    }
}
