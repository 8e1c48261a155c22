//! Loading a snapshot into a sharded store on several threads. Reading the
//! file (and its checksum) is sequential; storing the entries is not: the
//! shards are independent, so the reading thread deals each entry to the
//! thread that owns its shard, in batches, and those threads store them
//! meanwhile. On the development VM's two cores this takes a million 1 KiB
//! sessions from about 1.4 s on one thread to under a second
//! (docs/server.md, Warm restarts): storing is what costs (the hash index,
//! the expiry index and first touches of the store's pages), not reading,
//! which the page cache serves.

use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::{Scope, ScopedJoinHandle};

use dc_snapshot::SecretBuf;
use dc_store::{MemoryStore, Millis, SessionStore, ShardedStore, StoreMode};

/// Session bytes per batch handed to a storing thread.
const BATCH_BYTES: usize = 256 * 1024;
/// Full batches waiting per storing thread before the reader waits.
const QUEUED: usize = 4;

/// One entry of a batch; its id and data follow one another in the
/// batch's bytes, in entry order.
struct Entry {
    id_len: u8,
    data_len: u32,
    flags: u32,
    expires_at: Millis,
}

/// Entries for one storing thread. The bytes are secrets: a batch is wiped
/// when dropped, and its buffer reused (without a wipe: overwritten) while
/// the load lasts.
#[derive(Default)]
struct Batch {
    bytes: SecretBuf,
    entries: Vec<Entry>,
}

impl Batch {
    fn push(&mut self, id: &[u8], data: &[u8], flags: u32, expires_at: Millis) {
        // Ids are at most 255 bytes (the snapshot's own limit) and data at
        // most dc_snapshot::MAX_DATA_LEN, both checked by the reader.
        let (Ok(id_len), Ok(data_len)) = (u8::try_from(id.len()), u32::try_from(data.len())) else {
            return;
        };
        self.bytes.extend(id);
        self.bytes.extend(data);
        self.entries.push(Entry {
            id_len,
            data_len,
            flags,
            expires_at,
        });
    }

    fn is_full(&self) -> bool {
        self.bytes.len() >= BATCH_BYTES
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.entries.clear();
    }

    /// Stores every entry, each under its shard's lock.
    fn store_into(&self, store: &ShardedStore<MemoryStore>, now: Millis) -> u64 {
        let bytes = self.bytes.as_slice();
        let mut at = 0;
        for entry in &self.entries {
            let id_end = at + usize::from(entry.id_len);
            let data_end = id_end + entry.data_len as usize;
            let (id, data) = (&bytes[at..id_end], &bytes[id_end..data_end]);
            let _ =
                store
                    .lock(id)
                    .store(StoreMode::Set, id, data, entry.flags, entry.expires_at, now);
            at = data_end;
        }
        self.entries.len() as u64
    }
}

/// One storing thread, seen from the reader.
struct Lane<'scope> {
    filling: Batch,
    full: SyncSender<Batch>,
    empty: Receiver<Batch>,
    thread: ScopedJoinHandle<'scope, ()>,
}

/// Deals entries to `lanes` storing threads, by shard.
pub(super) struct BulkLoader<'scope> {
    store: &'scope ShardedStore<MemoryStore>,
    lanes: Vec<Lane<'scope>>,
}

impl<'scope> BulkLoader<'scope> {
    /// Starts `threads` storing threads (at least one) in `scope`; `now`
    /// is the store's clock for every entry.
    pub(super) fn start(
        scope: &'scope Scope<'scope, '_>,
        store: &'scope ShardedStore<MemoryStore>,
        threads: usize,
        now: Millis,
    ) -> std::io::Result<BulkLoader<'scope>> {
        let mut lanes = Vec::new();
        for index in 0..threads.clamp(1, store.shard_count()) {
            let (full, to_store) = mpsc::sync_channel::<Batch>(QUEUED);
            let (give_back, empty) = mpsc::sync_channel::<Batch>(QUEUED + 1);
            let thread = std::thread::Builder::new()
                .name(format!("dc_server-load-{index}"))
                .spawn_scoped(scope, move || {
                    for mut batch in to_store {
                        batch.store_into(store, now);
                        batch.clear();
                        // The reader may have stopped taking them back.
                        let _ = give_back.try_send(batch);
                    }
                })?;
            lanes.push(Lane {
                filling: Batch::default(),
                full,
                empty,
                thread,
            });
        }
        Ok(BulkLoader { store, lanes })
    }

    /// Queues one entry for the thread that owns its shard.
    pub(super) fn insert(&mut self, id: &[u8], data: &[u8], flags: u32, expires_at: Millis) {
        let lane_count = self.lanes.len();
        let lane = &mut self.lanes[self.store.shard_of(id) % lane_count];
        lane.filling.push(id, data, flags, expires_at);
        if lane.filling.is_full() {
            let next = lane.empty.try_recv().unwrap_or_default();
            let batch = std::mem::replace(&mut lane.filling, next);
            // A storing thread that is gone (it panicked) loses its
            // batches; the join in `finish` reports it.
            let _ = lane.full.send(batch);
        }
    }

    /// Hands over the last batches and waits until everything is stored.
    /// Returns false if a storing thread panicked (the store is then
    /// incomplete).
    pub(super) fn finish(self) -> bool {
        let mut whole = true;
        for lane in self.lanes {
            let Lane {
                filling,
                full,
                empty,
                thread,
            } = lane;
            if !filling.entries.is_empty() {
                let _ = full.send(filling);
            }
            drop(full);
            whole &= thread.join().is_ok();
            drop(empty);
        }
        whole
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dc_store::Limits;

    #[test]
    fn every_entry_reaches_its_shard_whole() {
        let limits = Limits::new(100_000, 256 << 20).expect("limits");
        let store = ShardedStore::memory(limits, 8).expect("limits");
        let expected: Vec<(Vec<u8>, Vec<u8>)> = (0..20_000u32)
            .map(|i| {
                let id = format!("id-{i}").into_bytes();
                let data = vec![(i % 251) as u8; 10 + (i as usize * 37) % 3000];
                (id, data)
            })
            .collect();
        std::thread::scope(|scope| {
            let mut loader = BulkLoader::start(scope, &store, 3, 0).expect("threads");
            for (i, (id, data)) in expected.iter().enumerate() {
                loader.insert(id, data, i as u32, 1_000_000);
            }
            assert!(loader.finish());
        });
        assert_eq!(store.len(), expected.len());
        for (i, (id, data)) in expected.iter().enumerate() {
            let shard = store.lock(id);
            let found = shard.entry(id, 0).expect("stored");
            assert_eq!((found.data, found.flags), (&data[..], i as u32));
        }
    }
}
