//! Looking the server's host name up without blocking the event loop.
//!
//! `getaddrinfo` blocks, for seconds when DNS is down. Done in the loop at
//! every reconnect, as before, it froze dc_client exactly when it must keep
//! answering `0x02` at once: while the server is away. So each connect
//! attempt uses the address already known (looked up at start-up, when
//! blocking is fine) and starts a fresh lookup on a thread of its own for
//! the next attempt. A server that moves is followed one attempt late; a
//! failed lookup keeps the last good address.

use std::net::SocketAddr;
use std::sync::mpsc::{self, Receiver, TryRecvError};

use log::debug;
use nal::{Address, NalError};

/// The latest known address of a server given by host name, refreshed in
/// the background.
#[derive(Debug)]
pub struct Resolver {
    address: Address,
    known: Option<SocketAddr>,
    lookup: Option<Receiver<Result<SocketAddr, String>>>,
}

impl Resolver {
    /// A resolver for `address` if it names a host that needs looking up
    /// (not a literal IP, not a unix socket). The first lookup is done now,
    /// blocking, at start-up: a name that does not resolve is refused, so a
    /// typo fails at once rather than at every retry.
    pub fn for_address(address: &Address) -> Result<Option<Resolver>, NalError> {
        if !address.needs_lookup() {
            return Ok(None);
        }
        let known = address.resolve()?;
        Ok(Some(Resolver {
            address: address.clone(),
            known: Some(known),
            lookup: None,
        }))
    }

    /// The address to connect to now, after taking in a lookup that has
    /// finished and starting the next one. (`None` only if no lookup ever
    /// succeeded, which [`for_address`](Self::for_address) rules out.)
    pub fn target(&mut self) -> Option<SocketAddr> {
        self.collect();
        if self.lookup.is_none() {
            self.start_lookup();
        }
        self.known
    }

    /// Takes in the result of a finished lookup, if any.
    fn collect(&mut self) {
        let Some(lookup) = &self.lookup else {
            return;
        };
        match lookup.try_recv() {
            Ok(Ok(found)) => {
                if self.known != Some(found) {
                    debug!("{} is now {found}", self.address);
                }
                self.known = Some(found);
                self.lookup = None;
            }
            Ok(Err(e)) => {
                debug!("{e}; keeping {:?}", self.known);
                self.lookup = None;
            }
            Err(TryRecvError::Empty) => {}
            Err(TryRecvError::Disconnected) => self.lookup = None,
        }
    }

    fn start_lookup(&mut self) {
        let (tx, rx) = mpsc::channel();
        let address = self.address.clone();
        let spawned = std::thread::Builder::new()
            .name("dc_client-resolve".into())
            .spawn(move || {
                let _ = tx.send(address.resolve().map_err(|e| e.to_string()));
            });
        match spawned {
            Ok(_) => self.lookup = Some(rx),
            Err(e) => debug!("cannot start a lookup of {}: {e}", self.address),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn literals_and_unix_sockets_need_no_resolver() {
        for a in ["IP:127.0.0.1:9", "IP:[::1]:9", "UNIX:/tmp/x"] {
            let resolver = Resolver::for_address(&Address::parse(a).unwrap()).unwrap();
            assert!(resolver.is_none(), "{a}");
        }
    }

    #[test]
    fn a_host_name_is_known_at_once_and_refreshed_in_the_background() {
        let address = Address::parse("IP:localhost:9001").unwrap();
        let mut resolver = Resolver::for_address(&address)
            .expect("localhost resolves")
            .expect("a host name");
        let first = resolver.target().expect("an address");
        assert!(first.ip().is_loopback() && first.port() == 9001);
        // A lookup is now under way, off this thread, and it completes.
        assert!(resolver.lookup.is_some());
        let deadline = Instant::now() + Duration::from_secs(10);
        while resolver.lookup.is_some() {
            assert!(Instant::now() < deadline, "the lookup never finished");
            std::thread::sleep(Duration::from_millis(5));
            resolver.collect();
        }
        assert_eq!(resolver.target().map(|a| a.port()), Some(9001));
    }

    #[test]
    fn a_name_that_does_not_resolve_is_refused_at_start() {
        let address = Address::parse("IP:no-such-host.invalid:9001").unwrap();
        let e = Resolver::for_address(&address).unwrap_err();
        assert!(e.to_string().contains("no-such-host.invalid"), "{e}");
    }

    #[test]
    fn a_failed_lookup_keeps_the_last_good_address_and_never_blocks() {
        let mut resolver = Resolver {
            address: Address::parse("IP:no-such-host.invalid:9001").unwrap(),
            known: Some("10.0.0.7:9001".parse().unwrap()),
            lookup: None,
        };
        let start = Instant::now();
        assert_eq!(resolver.target(), resolver.known);
        assert!(
            start.elapsed() < Duration::from_millis(500),
            "target() blocked"
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        while resolver.lookup.is_some() {
            assert!(Instant::now() < deadline, "the lookup never finished");
            std::thread::sleep(Duration::from_millis(5));
            resolver.collect();
        }
        assert_eq!(resolver.known, Some("10.0.0.7:9001".parse().unwrap()));
    }
}
