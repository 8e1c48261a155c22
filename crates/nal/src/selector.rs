//! The event loop's readiness source: a `mio::Poll` with its event list.

use std::io;
use std::time::{Duration, Instant};

use mio::event::Source;
use mio::{Events, Interest, Poll, Registry, Token, Waker};

/// Waits for readiness on registered sockets.
///
/// Readiness is edge-triggered: after an event, read or write until the
/// operation would block, or no further event may come. Events can be
/// spurious, and can name tokens that were just deregistered; ignore those.
#[derive(Debug)]
pub struct Selector {
    poll: Poll,
    events: Events,
}

impl Selector {
    /// A selector reporting at most `capacity` events per [`poll`](Self::poll).
    /// Further ready sockets are reported by the next poll.
    pub fn new(capacity: usize) -> io::Result<Selector> {
        Ok(Selector {
            poll: Poll::new()?,
            events: Events::with_capacity(capacity.max(1)),
        })
    }

    /// Starts watching `source` for `interest`, reporting it as `token`.
    pub fn register<S: Source + ?Sized>(
        &self,
        source: &mut S,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        self.poll.registry().register(source, token, interest)
    }

    /// Changes the token or interest of a registered `source`.
    pub fn reregister<S: Source + ?Sized>(
        &self,
        source: &mut S,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        self.poll.registry().reregister(source, token, interest)
    }

    /// Stops watching `source`. Do this before dropping it.
    pub fn deregister<S: Source + ?Sized>(&self, source: &mut S) -> io::Result<()> {
        self.poll.registry().deregister(source)
    }

    /// Waits until a registered source is ready or `timeout` passes (`None`:
    /// no time limit), then makes the events available from
    /// [`events`](Self::events). Returns with no events on timeout.
    ///
    /// A signal interrupting the wait does not end it early: the wait goes
    /// on for what is left of `timeout`. Signal handlers that must wake the
    /// loop should do so through a [`Waker`] or a registered pipe.
    pub fn poll(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let mut wait = timeout;
        loop {
            match self.poll.poll(&mut self.events, wait) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    if let Some(deadline) = deadline {
                        wait = Some(deadline.saturating_duration_since(Instant::now()));
                    }
                }
                result => return result,
            }
        }
    }

    /// The events from the last [`poll`](Self::poll).
    pub fn events(&self) -> &Events {
        &self.events
    }

    /// The registry, for code that registers sources itself.
    pub fn registry(&self) -> &Registry {
        self.poll.registry()
    }

    /// A waker that makes [`poll`](Self::poll) return with an event for
    /// `token`, from any thread. Only one waker may be live per selector, and
    /// it must be kept alive: dropping it discards a wake-up not yet polled.
    pub fn waker(&self, token: Token) -> io::Result<Waker> {
        Waker::new(self.poll.registry(), token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_times_out_with_no_events() {
        let mut selector = Selector::new(8).unwrap();
        let start = Instant::now();
        selector.poll(Some(Duration::from_millis(10))).unwrap();
        assert!(selector.events().is_empty());
        assert!(start.elapsed() >= Duration::from_millis(10));
    }

    #[test]
    fn waker_wakes_poll() {
        let mut selector = Selector::new(8).unwrap();
        let waker = selector.waker(Token(7)).unwrap();
        // The waker must outlive the poll: closing its descriptor would
        // discard the pending wake-up.
        std::thread::scope(|scope| {
            scope.spawn(|| waker.wake().unwrap());
            selector.poll(Some(Duration::from_secs(10))).unwrap();
        });
        let tokens: Vec<Token> = selector.events().iter().map(|e| e.token()).collect();
        assert_eq!(tokens, vec![Token(7)]);
    }
}
