//! A fault-injecting TCP relay: it sits between a client (dc_client) and a
//! server (dc_server) on loopback and, on command, stalls the traffic, cuts
//! every connection cleanly, resets them, or refuses new ones.
//!
//! Each relayed connection has two pump threads, one per direction. A pump
//! reads with a short timeout so that it sees a command within
//! [`POLL`]; a generation number tells it that its connection was cut or
//! reset. Closing is done by the pump that notices, on both sockets, so
//! the peers see FIN (cut) or RST (reset) at once.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// How soon a pump notices a command.
const POLL: Duration = Duration::from_millis(5);

/// What the relay does with traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forward bytes both ways.
    Pass,
    /// Keep every connection open but forward nothing (a stalled network
    /// or a hung peer); new connections are accepted and held.
    Stall,
    /// Close new connections at once, with RST (a host that refuses).
    Refuse,
}

/// Counts of what the relay did.
#[derive(Debug, Default)]
pub struct RelayStats {
    /// Connections accepted.
    pub accepted: AtomicU64,
    /// Connections closed by [`Relay::cut`] or [`Relay::reset`].
    pub broken: AtomicU64,
    /// Connections refused in [`Mode::Refuse`].
    pub refused: AtomicU64,
}

struct Shared {
    target: SocketAddr,
    mode: Mutex<Mode>,
    /// Bumped by every cut or reset; a connection of an older generation
    /// closes.
    generation: AtomicU64,
    /// Whether the last break was a reset (RST) rather than a cut (FIN).
    reset: AtomicBool,
    stop: AtomicBool,
    stats: RelayStats,
}

impl Shared {
    fn mode(&self) -> Mode {
        *self.mode.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running relay; dropping it stops it and closes every connection.
pub struct Relay {
    shared: Arc<Shared>,
    address: SocketAddr,
    acceptor: Option<JoinHandle<()>>,
}

impl Relay {
    /// Listens on a free 127.0.0.1 port and relays to `target`.
    pub fn start(target: SocketAddr) -> io::Result<Relay> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let address = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let shared = Arc::new(Shared {
            target,
            mode: Mutex::new(Mode::Pass),
            generation: AtomicU64::new(0),
            reset: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            stats: RelayStats::default(),
        });
        let acceptor = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name("relay-accept".into())
                .spawn(move || accept_loop(listener, shared))?
        };
        Ok(Relay {
            shared,
            address,
            acceptor: Some(acceptor),
        })
    }

    /// Where clients connect.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The address in libnal form, for `-server`.
    pub fn nal_address(&self) -> String {
        format!("IP:127.0.0.1:{}", self.address.port())
    }

    /// Switches what the relay does with traffic from now on.
    pub fn set_mode(&self, mode: Mode) {
        *self.shared.mode.lock().unwrap_or_else(|e| e.into_inner()) = mode;
    }

    /// Closes every current connection cleanly (FIN both ways).
    pub fn cut(&self) {
        self.shared.reset.store(false, Ordering::SeqCst);
        self.shared.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Closes every current connection with RST both ways.
    pub fn reset(&self) {
        self.shared.reset.store(true, Ordering::SeqCst);
        self.shared.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// What the relay did so far.
    pub fn stats(&self) -> &RelayStats {
        &self.shared.stats
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.generation.fetch_add(1, Ordering::SeqCst);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut pumps: Vec<JoinHandle<()>> = Vec::new();
    while !shared.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((client, _)) => {
                shared.stats.accepted.fetch_add(1, Ordering::Relaxed);
                if shared.mode() == Mode::Refuse {
                    shared.stats.refused.fetch_add(1, Ordering::Relaxed);
                    abort(&client);
                    continue;
                }
                if let Err(e) = relay_one(client, &shared, &mut pumps) {
                    // The server is down: the client sees its connection
                    // refused the way it would without the relay.
                    log::debug!("relay: connecting to {}: {e}", shared.target);
                }
                pumps.retain(|p| !p.is_finished());
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => thread::sleep(POLL),
            Err(e) => {
                log::warn!("relay: accept: {e}");
                thread::sleep(POLL);
            }
        }
    }
    for pump in pumps {
        let _ = pump.join();
    }
}

fn relay_one(
    client: TcpStream,
    shared: &Arc<Shared>,
    pumps: &mut Vec<JoinHandle<()>>,
) -> io::Result<()> {
    client.set_nonblocking(false)?;
    let server = match TcpStream::connect_timeout(&shared.target, Duration::from_secs(1)) {
        Ok(server) => server,
        Err(e) => {
            abort(&client);
            return Err(e);
        }
    };
    for s in [&client, &server] {
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(POLL))?;
    }
    let generation = shared.generation.load(Ordering::SeqCst);
    let ends = [(client.try_clone()?, server.try_clone()?), (server, client)];
    for (from, to) in ends {
        let shared = Arc::clone(shared);
        pumps.push(
            thread::Builder::new()
                .name("relay-pump".into())
                .spawn(move || pump(from, to, &shared, generation))?,
        );
    }
    Ok(())
}

/// Copies `from` to `to` until either end closes or the connection's
/// generation is broken.
fn pump(mut from: TcpStream, mut to: TcpStream, shared: &Shared, generation: u64) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if shared.generation.load(Ordering::SeqCst) != generation {
            if shared.reset.load(Ordering::SeqCst) {
                shared.stats.broken.fetch_add(1, Ordering::Relaxed);
                abort(&from);
                abort(&to);
            } else {
                shared.stats.broken.fetch_add(1, Ordering::Relaxed);
                let _ = from.shutdown(Shutdown::Both);
                let _ = to.shutdown(Shutdown::Both);
            }
            return;
        }
        if shared.mode() == Mode::Stall {
            thread::sleep(POLL);
            continue;
        }
        match from.read(&mut buf) {
            Ok(0) => {
                // One side closed: pass the FIN on, and let the other
                // pump see the other side close.
                let _ = to.shutdown(Shutdown::Write);
                return;
            }
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    let _ = from.shutdown(Shutdown::Both);
                    return;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => {
                let _ = to.shutdown(Shutdown::Both);
                return;
            }
        }
    }
}

/// Makes the close of `stream` abortive (linger 0): when its last handle
/// drops, the kernel sends RST instead of FIN. Both pumps of a connection
/// return on the same generation change, so that happens within [`POLL`].
fn abort(stream: &TcpStream) {
    let _ = socket2::SockRef::from(stream).set_linger(Some(Duration::ZERO));
}
