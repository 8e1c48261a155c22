//! Which servers of a pool own a key: the consistent-hash ring that the
//! server pool routes by. Sans-IO and pure: it is built from a server list
//! and answers lookups; it knows nothing of links, and liveness is asked of
//! the caller on each lookup.
//!
//! # The scheme: ketama, as libmemcached places keys
//!
//! This is ketama in the form libmemcached calls "libketama compatible"
//! (`MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED`; PHP memcached's
//! `OPT_LIBKETAMA_COMPATIBLE`, pylibmc's `ketama` behaviour). The same
//! server list therefore puts a key on the same server here as in those
//! clients, so a node that reaches the pool through `dc_client` and an
//! application that talks memcache to the same servers with libmemcached
//! agree on where each session lives, and an operator can check a
//! placement with tools memcached users already have. The tests check it
//! against libmemcached's own reference table.
//!
//! ```text
//!  0                                                              2^32 - 1
//!  |--a1----b7--a3-------c2------b0---------a9---c5------b3---c0--a2--|
//!                  ^ md5(key)
//!                  first owner c (c2 is the next point), then b, then a
//! ```
//!
//! * Each server gets `floor(weight / total_weight * 40 * servers) * 4`
//!   points (160 when the weights are equal), computed in single precision
//!   exactly as libmemcached does. Point group `i` of a server named `name`
//!   is the MD5 of `"name-i"`, read as four little-endian `u32`s.
//! * A server's name is what the caller gives; [`Server::host_port`] makes
//!   it the way libmemcached does (`host` alone for port 11211, else
//!   `host:port`), which is what compatibility needs.
//! * A key hashes to the first four bytes of its MD5, little-endian; its
//!   first owner is the server of the first point at or after that hash,
//!   wrapping past the top to the first point.
//!
//! # Replicas and servers that are down
//!
//! [`Ring::owners`] walks the ring clockwise from the key and yields each
//! server the first time it meets it, skipping the servers the caller says
//! are down: with `-replicas R` these are "the R distinct live servers that
//! follow the key on the ring", in the order a GET should ask them. A down
//! server's keys thus go to the next live server on the ring, and no other
//! key moves. Nothing is rebuilt when a server goes down or comes back, so
//! the lookup that notices it costs the same as any other.
//!
//! libmemcached's auto-eject instead rebuilds the ring over the live
//! servers. With equal weights that gives the same first owner as skipping;
//! with unequal weights it also re-divides the points among the remaining
//! servers and moves some of their keys too. Skipping moves fewer keys, so
//! this ring skips.
//!
//! # Why not rendezvous hashing
//!
//! Rendezvous (highest random weight) hashing balances better, since it has
//! no virtual nodes to be unlucky with, and picks replicas just as
//! naturally (the R highest scores). But it costs one hash per server on
//! every lookup where ketama costs one MD5 of the key and a binary search
//! over at most `160 * servers` `u32`s (a few KiB, in cache). And no
//! memcached client places keys that way, so nothing outside `dc_client`
//! would agree with it. The balance ketama gives with 160 points per server
//! is measured by the tests: the busiest server of a pool carries at most
//! 1.4 times the mean share (typically about 1.1 to 1.25).
//!
//! # Changing the server list
//!
//! Adding or removing a server is a rebuild ([`Ring::new`] on the new
//! list: 40 MD5s per server and a sort, well under a millisecond for
//! dozens of servers). Server indices are positions in the list given, so
//! a caller that removes a server renumbers its own per-server state the
//! same way. With equal weights, adding a server to `N` moves only the keys
//! the new server takes, about `1 / (N + 1)` of them.
//!
//! One quirk is kept for compatibility: libmemcached's single-precision
//! point count rounds `40` down to `39.99...` at some pool sizes (25, 47,
//! 50, 55, ... equal servers), giving each server 156 points instead of
//! 160. Growing a pool across such a size then also moves the few keys of
//! those last four points between the old servers, as it does for
//! libmemcached clients.

use std::fmt;
use std::iter::FusedIterator;

use md5::{Digest, Md5};

/// The most servers a ring takes. Each `dc_client` keeps one link per
/// server, and a fleet that needs more than this many cache servers is
/// better served by Redis Cluster behind `dc_client` than by a bigger ring;
/// the bound also keeps a lookup's set of servers seen in 32 bytes.
pub const MAX_SERVERS: usize = 256;

/// Points per server at equal weights, libmemcached's
/// `MEMCACHED_POINTS_PER_SERVER_KETAMA`.
pub const POINTS_PER_SERVER: u32 = 160;

/// Points taken from one MD5 digest: its four little-endian `u32`s.
const POINTS_PER_HASH: u32 = 4;

/// The port libmemcached leaves out of a server's name on the ring.
pub const MEMCACHED_DEFAULT_PORT: u16 = 11211;

/// One server as the ring sees it: the name its points are hashed from
/// and its weight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    name: String,
    weight: u32,
}

impl Server {
    /// A server of weight 1 whose points are hashed from `name`.
    pub fn new(name: impl Into<String>) -> Server {
        Server {
            name: name.into(),
            weight: 1,
        }
    }

    /// A server named as libmemcached names `host` and `port` on its ring:
    /// the host alone for the memcached port 11211, `host:port` otherwise.
    /// Give the host as the client's configuration spells it (a name stays
    /// a name, it is not resolved first), so that the placement does not
    /// change when an address does.
    pub fn host_port(host: &str, port: u16) -> Server {
        if port == MEMCACHED_DEFAULT_PORT {
            Server::new(host)
        } else {
            Server::new(format!("{host}:{port}"))
        }
    }

    /// The same server with another weight: its share of the points is its
    /// weight over the sum of all weights.
    pub fn with_weight(self, weight: u32) -> Server {
        Server { weight, ..self }
    }

    /// The name the server's points are hashed from.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The server's weight.
    pub fn weight(&self) -> u32 {
        self.weight
    }
}

/// Why a server list makes no ring.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RingError {
    /// The list is empty.
    #[error("no servers: a ring needs at least one")]
    NoServers,
    /// More servers than [`MAX_SERVERS`].
    #[error("{count} servers, more than the ring's limit of {max}")]
    TooManyServers {
        /// How many were given.
        count: usize,
        /// [`MAX_SERVERS`].
        max: usize,
    },
    /// A server with an empty name, whose points would collide with any
    /// other empty name and mean nothing to a reader.
    #[error("server {index} has an empty name")]
    EmptyName {
        /// Its position in the list.
        index: usize,
    },
    /// Two servers with one name would get the same points, so one of them
    /// would never own a key.
    #[error("server {name:?} is listed twice (at {first} and {second})")]
    Duplicate {
        /// The name given twice.
        name: String,
        /// Its first position in the list.
        first: usize,
        /// Its second position.
        second: usize,
    },
    /// Weight 0 would leave the server on no point.
    #[error("server {name:?} has weight 0: give it 1 or more, or leave it out")]
    ZeroWeight {
        /// The server's name.
        name: String,
    },
    /// The weight is so small beside the others that the point formula
    /// rounds it to no point at all: the server would never own a key.
    #[error(
        "server {name:?} has weight {weight}, too small beside the total weight {total} \
         to get a point on the ring"
    )]
    TooLight {
        /// The server's name.
        name: String,
        /// Its weight.
        weight: u32,
        /// The sum of all weights.
        total: u64,
    },
}

/// The ring: every point sorted by hash, with the server that owns it.
#[derive(Clone)]
pub struct Ring {
    /// Point hashes, ascending. Kept apart from `owners` so that the binary
    /// search reads only these 4-byte values.
    hashes: Box<[u32]>,
    /// `owners[i]` is the server index of the point `hashes[i]`.
    owners: Box<[u16]>,
    /// The servers as given, by index.
    servers: Box<[Server]>,
}

impl fmt::Debug for Ring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ring")
            .field("servers", &self.servers)
            .field("points", &self.hashes.len())
            .finish()
    }
}

impl Ring {
    /// Builds the ring of `servers`; a server's index in later answers is
    /// its position in this list.
    pub fn new(servers: &[Server]) -> Result<Ring, RingError> {
        validate(servers)?;
        let count = servers.len();
        let total: u64 = servers.iter().map(|s| u64::from(s.weight)).sum();
        let mut points: Vec<(u32, u16)> =
            Vec::with_capacity(count * POINTS_PER_SERVER as usize + 4 * count);
        for (index, server) in servers.iter().enumerate() {
            let n = point_count(server.weight, total, count);
            if n == 0 {
                return Err(RingError::TooLight {
                    name: server.name.clone(),
                    weight: server.weight,
                    total,
                });
            }
            // `validate` bounds `count` by MAX_SERVERS, which fits a u16.
            let owner = index as u16;
            let mut label = String::with_capacity(server.name.len() + 4);
            for group in 0..n / POINTS_PER_HASH {
                label.clear();
                label.push_str(&server.name);
                label.push('-');
                label.push_str(&group.to_string());
                let digest = Md5::digest(label.as_bytes());
                for chunk in digest.chunks_exact(4) {
                    let hash = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
                    points.push((hash, owner));
                }
            }
        }
        // By hash, then by server index on the rare equal hash, as
        // libmemcached's qsort comparator orders them.
        points.sort_unstable();
        Ok(Ring {
            hashes: points.iter().map(|&(hash, _)| hash).collect(),
            owners: points.iter().map(|&(_, owner)| owner).collect(),
            servers: servers.into(),
        })
    }

    /// How many servers the ring holds (never 0).
    pub fn server_count(&self) -> usize {
        self.servers.len()
    }

    /// The server at `index`, if there is one.
    pub fn server(&self, index: usize) -> Option<&Server> {
        self.servers.get(index)
    }

    /// How many points the ring holds, all servers together.
    pub fn point_count(&self) -> usize {
        self.hashes.len()
    }

    /// How many points the server at `index` holds (0 for no such server).
    pub fn points_of(&self, index: usize) -> usize {
        self.owners
            .iter()
            .filter(|&&owner| usize::from(owner) == index)
            .count()
    }

    /// The servers that own `key`, in ring order: at most `replicas`
    /// distinct servers for which `is_live` says yes, the first one being
    /// where a request for `key` goes. Fewer come out when fewer servers
    /// are live. `is_live` is asked at most once per server and lookup,
    /// and only as the walk reaches that server, so a lookup whose first
    /// owner is up asks once.
    pub fn owners<F>(&self, key: &[u8], replicas: usize, is_live: F) -> Owners<'_, F>
    where
        F: FnMut(usize) -> bool,
    {
        self.owners_of_hash(self.place(key), replicas, is_live)
    }

    /// Where `key` lands. With one server every point is its own, so the
    /// key is not hashed: MD5 was the larger part of a lookup, and one
    /// server is the common case.
    fn place(&self, key: &[u8]) -> u32 {
        if self.servers.len() == 1 {
            0
        } else {
            key_hash(key)
        }
    }

    /// The first owner of `key` when every server is live.
    pub fn primary(&self, key: &[u8]) -> usize {
        usize::from(self.owners[self.successor(self.place(key))])
    }

    /// The share of the hash space that each server owns as first owner
    /// when all are live (the length of the arcs that end at its points),
    /// by index; the shares add up to 1. This is exactly the share of
    /// uniformly spread keys that each server gets.
    pub fn shares(&self) -> Vec<f64> {
        let mut arcs = vec![0u64; self.servers.len()];
        let len = self.hashes.len();
        for i in 0..len {
            // The arc ending at point i starts just after the point before
            // it; the first point's arc wraps from the last one.
            let previous = if i == 0 {
                self.hashes[len - 1]
            } else {
                self.hashes[i - 1]
            };
            let arc = u64::from(self.hashes[i].wrapping_sub(previous));
            arcs[usize::from(self.owners[i])] += arc;
        }
        arcs.iter()
            .map(|&a| a as f64 / (1u64 << 32) as f64)
            .collect()
    }

    /// [`Ring::owners`] for a key already hashed with [`key_hash`].
    pub(crate) fn owners_of_hash<F>(&self, hash: u32, replicas: usize, is_live: F) -> Owners<'_, F>
    where
        F: FnMut(usize) -> bool,
    {
        Owners {
            ring: self,
            next: self.successor(hash),
            steps_left: self.hashes.len(),
            wanted: replicas,
            unseen: self.servers.len(),
            seen: [0; MAX_SERVERS / 64],
            is_live,
        }
    }

    /// The index of the first point at or after `hash`, wrapping to the
    /// first point past the top.
    fn successor(&self, hash: u32) -> usize {
        let at = self.hashes.partition_point(|&point| point < hash);
        if at == self.hashes.len() {
            0
        } else {
            at
        }
    }

    /// The hash of the point that `hash` lands on (for the reference
    /// table, which records it).
    #[cfg(test)]
    fn point_for(&self, hash: u32) -> u32 {
        self.hashes[self.successor(hash)]
    }
}

/// The owners of one key, as [`Ring::owners`] walks them: distinct live
/// server indices in ring order.
pub struct Owners<'r, F> {
    ring: &'r Ring,
    /// The next point to look at.
    next: usize,
    /// Points not yet looked at: the walk ends after one full turn.
    steps_left: usize,
    /// How many more owners the caller wants.
    wanted: usize,
    /// Servers not yet met on this walk: once all were met, every further
    /// point is one already answered for.
    unseen: usize,
    /// The servers already met (yielded or down), a bit per index.
    seen: [u64; MAX_SERVERS / 64],
    is_live: F,
}

impl<F: FnMut(usize) -> bool> Iterator for Owners<'_, F> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        while self.wanted > 0 && self.unseen > 0 && self.steps_left > 0 {
            let server = usize::from(self.ring.owners[self.next]);
            self.next += 1;
            if self.next == self.ring.owners.len() {
                self.next = 0;
            }
            self.steps_left -= 1;
            let (word, bit) = (server / 64, 1u64 << (server % 64));
            if self.seen[word] & bit != 0 {
                continue;
            }
            self.seen[word] |= bit;
            self.unseen -= 1;
            if (self.is_live)(server) {
                self.wanted -= 1;
                return Some(server);
            }
        }
        None
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.wanted.min(self.unseen)))
    }
}

impl<F: FnMut(usize) -> bool> FusedIterator for Owners<'_, F> {}

/// The ring position of `key`: the first four bytes of its MD5, read
/// little-endian, as libmemcached's MD5 key hash does.
pub(crate) fn key_hash(key: &[u8]) -> u32 {
    let digest = Md5::digest(key);
    u32::from_le_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// The points of a server of `weight` in a ring of `count` servers whose
/// weights add up to `total`: libmemcached's formula, in the single
/// precision it uses, so that the rounding (and its quirk, see the module
/// docs) matches.
fn point_count(weight: u32, total: u64, count: usize) -> u32 {
    let share = weight as f32 / total as f32;
    let groups = (share * POINTS_PER_SERVER as f32 / POINTS_PER_HASH as f32 * count as f32
        + 0.000_000_000_1_f32)
        .floor();
    // `groups` is at most 40 * count, far inside u32.
    groups as u32 * POINTS_PER_HASH
}

/// Checks what [`Ring::new`] rejects before any hashing.
fn validate(servers: &[Server]) -> Result<(), RingError> {
    if servers.is_empty() {
        return Err(RingError::NoServers);
    }
    if servers.len() > MAX_SERVERS {
        return Err(RingError::TooManyServers {
            count: servers.len(),
            max: MAX_SERVERS,
        });
    }
    let mut by_name: Vec<(&str, usize)> = Vec::with_capacity(servers.len());
    for (index, server) in servers.iter().enumerate() {
        if server.name.is_empty() {
            return Err(RingError::EmptyName { index });
        }
        if server.weight == 0 {
            return Err(RingError::ZeroWeight {
                name: server.name.clone(),
            });
        }
        by_name.push((&server.name, index));
    }
    by_name.sort_unstable();
    for pair in by_name.windows(2) {
        if pair[0].0 == pair[1].0 {
            return Err(RingError::Duplicate {
                name: pair[0].0.to_owned(),
                first: pair[0].1,
                second: pair[1].1,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod ketama_vectors;
#[cfg(test)]
mod tests;
