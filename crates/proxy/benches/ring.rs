//! Ring lookups: the first owner of a session id, the owners a `-replicas
//! 2` write goes to, and a lookup whose first owner is down, for pools of 3
//! and 32 servers; plus a rebuild of a 32-server ring.
//!
//! Run with `cargo bench -p dc_proxy --bench ring` (add `-- --quick` for a
//! fast pass). Keys are 32-byte session ids, as distcache carries them,
//! and 72-byte memcache keys (`mod_ssl:` and a 64-digit hex id).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dc_proxy::ring::{Ring, Server};

fn ring_of(count: usize) -> Ring {
    let servers: Vec<Server> = (0..count)
        .map(|i| Server::new(format!("10.1.0.{}:9001", i + 1)))
        .collect();
    Ring::new(&servers).expect("valid pool")
}

/// 1024 distinct keys of `len` bytes, cycled through so that the lookups
/// do not all hit one cached path.
fn keys(len: usize) -> Vec<Vec<u8>> {
    (0..1024u32)
        .map(|i| {
            let mut key = b"mod_ssl:".to_vec();
            key.resize(len, 0);
            for (j, byte) in key.iter_mut().enumerate().skip(8) {
                *byte =
                    b"0123456789abcdef"[((i as usize).wrapping_mul(2654435761) >> (j % 24)) & 15];
            }
            key
        })
        .collect()
}

fn lookups(c: &mut Criterion) {
    let mut group = c.benchmark_group("ring");
    group.throughput(Throughput::Elements(1));
    for servers in [3, 32] {
        let ring = ring_of(servers);
        for len in [32, 72] {
            let keys = keys(len);
            let mut i = 0;
            group.bench_function(format!("first_owner_{servers}_servers_{len}B_key"), |b| {
                b.iter(|| {
                    i = (i + 1) & 1023;
                    black_box(ring.owners(black_box(&keys[i]), 1, |_| true).next())
                })
            });
        }
        let keys = keys(32);
        let mut i = 0;
        group.bench_function(format!("two_owners_{servers}_servers_32B_key"), |b| {
            b.iter(|| {
                i = (i + 1) & 1023;
                let mut owners = ring.owners(black_box(&keys[i]), 2, |_| true);
                black_box((owners.next(), owners.next()))
            })
        });
        // Server 0 down: a third of the keys (or a 32nd) walk past it.
        let mut i = 0;
        group.bench_function(
            format!("first_live_owner_one_down_{servers}_servers_32B_key"),
            |b| {
                b.iter(|| {
                    i = (i + 1) & 1023;
                    black_box(ring.owners(black_box(&keys[i]), 1, |s| s != 0).next())
                })
            },
        );
    }
    group.finish();

    let servers: Vec<Server> = (0..32)
        .map(|i| Server::new(format!("10.1.0.{}:9001", i + 1)))
        .collect();
    c.bench_function("ring_build_32_servers", |b| {
        b.iter(|| black_box(Ring::new(black_box(&servers)).expect("valid")))
    });
}

criterion_group!(benches, lookups);
criterion_main!(benches);
