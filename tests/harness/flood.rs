//! Connection floods and what they cost: a thread that opens idle
//! connections as fast as it is allowed to, and a process's CPU time.

use std::collections::VecDeque;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::Conn;

/// A thread opening connections that never send anything, holding the
/// newest `hold` of them open (older ones are closed on our side, so the
/// test process does not run out of descriptors itself).
pub struct Flood {
    stop: Arc<AtomicBool>,
    opened: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl Flood {
    /// Starts flooding `address` with up to `per_ms` new connections per
    /// millisecond, holding `hold` of them.
    pub fn start(address: &str, per_ms: usize, hold: usize) -> Flood {
        let stop = Arc::new(AtomicBool::new(false));
        let opened = Arc::new(AtomicUsize::new(0));
        let address = address.to_string();
        let thread = {
            let (stop, opened) = (Arc::clone(&stop), Arc::clone(&opened));
            std::thread::spawn(move || {
                let mut held = VecDeque::with_capacity(hold + 1);
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..per_ms {
                        // A refused or failed connect is part of a flood.
                        if let Ok(conn) = Conn::try_connect(&address) {
                            held.push_back(conn);
                            opened.fetch_add(1, Ordering::Relaxed);
                        }
                        if held.len() > hold {
                            held.pop_front();
                        }
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
            })
        };
        Flood {
            stop,
            opened,
            thread: Some(thread),
        }
    }

    /// Connections opened so far.
    pub fn opened(&self) -> usize {
        self.opened.load(Ordering::Relaxed)
    }

    /// Stops the flood and closes its connections; returns how many it
    /// opened.
    pub fn stop(mut self) -> usize {
        self.halt();
        self.opened()
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Flood {
    fn drop(&mut self) {
        self.halt();
    }
}

/// CPU time (user and system) process `pid` has used so far.
pub fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/stat: {e}"));
    // The fields after the command name, which is in parentheses and may
    // hold anything.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    let per_second = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .map_or(100, |t| t as u64);
    Duration::from_millis(ticks * 1000 / per_second)
}

/// Sets the soft open-files limit of running process `pid` (with
/// util-linux `prlimit`, which the tests need anyway to start a server
/// under a limit).
pub fn set_open_files_soft_limit(pid: u32, soft: u64) {
    let status = Command::new("prlimit")
        .arg(format!("--pid={pid}"))
        .arg(format!("--nofile={soft}:"))
        .status()
        .expect("prlimit (util-linux) runs");
    assert!(
        status.success(),
        "prlimit --pid {pid} --nofile={soft}: failed"
    );
}

/// The soft and hard open-files limits of process `pid`.
pub fn open_files_limits(pid: u32) -> (u64, u64) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("/proc/PID/limits");
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("a Max open files line");
    let numbers: Vec<u64> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    (numbers[0], numbers[1])
}

/// How long each of a series of timed probes took, for a report line.
#[derive(Debug, Default)]
pub struct Latencies(pub Vec<Duration>);

impl Latencies {
    /// Times `probe`.
    pub fn time<T>(&mut self, probe: impl FnOnce() -> T) -> (T, Duration) {
        let start = Instant::now();
        let out = probe();
        let took = start.elapsed();
        self.0.push(took);
        (out, took)
    }

    /// The largest.
    pub fn max(&self) -> Duration {
        self.0.iter().copied().max().unwrap_or_default()
    }

    /// The median.
    pub fn median(&self) -> Duration {
        let mut v = self.0.clone();
        v.sort();
        v.get(v.len() / 2).copied().unwrap_or_default()
    }
}
