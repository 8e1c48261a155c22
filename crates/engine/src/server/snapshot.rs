//! Warm restart: the store written to a snapshot file at shutdown (and
//! every [`SnapshotConfig::interval`], if set) and read back at start. The
//! format is `dc_snapshot`'s; this module decides where, when, and what to
//! do with a bad file.
//!
//! * **Writing streams the store.** Entries are copied a piece
//!   ([`PIECE`] entries) at a time into one wiped staging buffer while the
//!   piece's shard is locked, then written with the lock released: a
//!   periodic snapshot holds a shard for the time of a memcpy of a few
//!   hundred KiB, never for the write, and no second copy of the store is
//!   ever made. The final snapshot, written once serving has stopped and
//!   the store no longer changes, is measured first and then written by a
//!   thread per core, each shard at its own offset ([`Writing::Final`]).
//!   The file is a temporary one beside the target, created
//!   with mode 0600 (set again with fchmod, whatever the umask), fsynced,
//!   renamed into place, and the directory fsynced: a reader sees the old
//!   snapshot or the new one, whole.
//! * **Loading comes before serving.** The listeners are bound already, so
//!   clients that connect meanwhile wait in the backlog and are served
//!   once the store is whole: every answer is as consistent as after the
//!   restart it is, never a miss for a session that is about to be loaded.
//! * **Never half-loaded.** Entries are stored as they are read, and the
//!   checksum is only known at the end: if the file turns out bad, the
//!   store is emptied again before anything is served. One pass over the
//!   file instead of a checking pass and a loading pass: on a cold page
//!   cache, the reading is what costs.
//! * **Remaining lifetimes.** Each record holds what was left of its
//!   lifetime when the snapshot was started; at load the wall-clock time
//!   since then is taken off (nothing if the clock went back), entries
//!   whose lifetime ran out meanwhile are skipped, and the rest are capped
//!   at `-max-ttl`.

use std::fs::{self, File, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use dc_snapshot::{
    encode_record, header, trailer, Reader, SecretBuf, SegmentWriter, SnapshotError, Writer,
    HEADER_LEN, RECORD_HEADER_LEN,
};
use dc_store::{MemoryStore, Millis, ShardedStore, WalkCursor};

/// Entries copied per lock of a shard while writing.
pub const PIECE: usize = 1024;

/// Where and how often the store is snapshotted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotConfig {
    /// The snapshot file (absolute: `-daemon` changes directory).
    pub path: PathBuf,
    /// Also write one this often while serving (`None`: only at shutdown).
    pub interval: Option<Duration>,
    /// Refuse to start when the file is bad, instead of setting it aside
    /// and starting empty.
    pub strict: bool,
}

/// What a write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Saved {
    /// Sessions written.
    pub sessions: u64,
    /// Bytes of the file.
    pub bytes: u64,
    /// Time to write everything (before the fsync).
    pub write: Duration,
    /// Time of the fsync, rename and directory fsync.
    pub sync: Duration,
}

/// What a load did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loaded {
    /// Sessions stored.
    pub sessions: u64,
    /// Sessions whose lifetime ran out between the snapshot and now.
    pub expired: u64,
    /// Time taken.
    pub took: Duration,
}

/// What a walk hands each live entry: id, data, flags, remaining lifetime.
pub(super) type EntryVisitor<'a> = dyn FnMut(&[u8], &[u8], u32, Millis) + 'a;

/// A store a snapshot can be written from: its shards, each walked a piece
/// at a time.
pub(super) trait Walkable: Sync {
    fn shards(&self) -> usize;
    /// [`MemoryStore::walk`] on shard `shard`, holding it only meanwhile.
    fn walk_shard(
        &self,
        shard: usize,
        from: WalkCursor,
        now: Millis,
        f: &mut EntryVisitor<'_>,
    ) -> Option<WalkCursor>;
}

impl Walkable for MemoryStore {
    fn shards(&self) -> usize {
        1
    }

    fn walk_shard(
        &self,
        _shard: usize,
        from: WalkCursor,
        now: Millis,
        f: &mut EntryVisitor<'_>,
    ) -> Option<WalkCursor> {
        self.walk(from, PIECE, now, |e| f(e.id, e.data, e.flags, e.expires_at))
    }
}

impl Walkable for ShardedStore<MemoryStore> {
    fn shards(&self) -> usize {
        self.shard_count()
    }

    fn walk_shard(
        &self,
        shard: usize,
        from: WalkCursor,
        now: Millis,
        f: &mut EntryVisitor<'_>,
    ) -> Option<WalkCursor> {
        self.lock_shard(shard)
            .walk(from, PIECE, now, |e| f(e.id, e.data, e.flags, e.expires_at))
    }
}

/// The temporary file a snapshot is written to before the rename.
fn temporary(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Where the snapshot a new one replaces is kept until it can be removed
/// off the critical path (see [`replace`]).
pub(super) fn superseded(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".old");
    path.with_file_name(name)
}

/// Moves the written `tmp` over `path`. Renaming over a file drops the
/// replaced file's cached pages there and then (about 0.3-0.5 s for a 1 GB
/// snapshot on the development VM, in the middle of a restart), so the old
/// snapshot is first given a second name, [`superseded`], which keeps its
/// pages alive through the rename; whoever calls this removes that name
/// when it costs nobody (a periodic write at once, in its own thread; the
/// final write leaves it to the next start, which removes it on a thread of
/// its own while serving). A leftover from an earlier run is removed first.
/// Where hard links are not supported the rename goes ahead without one.
fn replace(tmp: &Path, path: &Path) -> io::Result<()> {
    let old = superseded(path);
    match fs::remove_file(&old) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    match fs::hard_link(path, &old) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => log::debug!(
            "snapshot {}: no second name for the old one: {e}",
            path.display()
        ),
    }
    fs::rename(tmp, path)
}

/// Removes the snapshot the last write replaced, if any (its pages are
/// dropped meanwhile: call it off the critical path).
pub(super) fn remove_superseded(path: &Path) {
    let old = superseded(path);
    match fs::remove_file(&old) {
        Ok(()) => log::debug!("snapshot {}: removed the one it replaced", path.display()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => log::warn!(
            "snapshot {}: cannot remove {}: {e}",
            path.display(),
            old.display()
        ),
    }
}

/// The directory holding `path`.
fn directory(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// How a snapshot is written.
#[derive(Debug, Clone, Copy)]
pub(super) enum Writing<'a> {
    /// While serving: the store keeps changing, so it is streamed by one
    /// thread, shard after shard, and given up if the flag is raised (by
    /// the final write, which supersedes it).
    Live(&'a AtomicBool),
    /// Once serving has stopped: the store no longer changes, so the
    /// length of every shard's records is known before any is written,
    /// and up to `threads` threads each write whole shards at their own
    /// place in the file. On the development VM, copying to the page cache
    /// runs at about 0.8 GB/s per core: this is most of a restart.
    Final {
        /// Threads to write with (at most one per shard).
        threads: usize,
    },
}

/// Writes every entry of `store` live at `now` (the store's clock; the
/// wall clock reads `unix_ms`) to `path`, through a temporary file.
/// Returns `Ok(None)` if a [`Writing::Live`] write was aborted (the
/// temporary file is removed and the old snapshot left alone).
pub(super) fn save(
    path: &Path,
    store: &dyn Walkable,
    now: Millis,
    unix_ms: u64,
    writing: Writing<'_>,
) -> Result<Option<Saved>, SnapshotError> {
    let started = Instant::now();
    let tmp = temporary(path);
    // A leftover of a crash: created afresh (O_EXCL, so never through a
    // planted symlink), with the mode and owner of this process.
    match fs::remove_file(&tmp) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e.into()),
        _ => {}
    }
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    let result = (|| {
        // umask may have taken bits off the 0600 above but never added
        // any; set it outright all the same, as the file holds master
        // secrets.
        file.set_permissions(Permissions::from_mode(0o600))?;
        std::thread::scope(|scope| {
            let writeback = Writeback::start(&file, scope)?;
            match writing {
                Writing::Live(abort) => {
                    write_streamed(&file, writeback, store, now, unix_ms, abort)
                }
                Writing::Final { threads } => {
                    write_in_place(&file, &writeback, store, now, unix_ms, threads).map(Some)
                }
            }
        })
    })();
    let sessions = match result {
        Ok(Some(sessions)) => sessions,
        Ok(None) => {
            let _ = fs::remove_file(&tmp);
            return Ok(None);
        }
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
    };
    let write = started.elapsed();
    let synced = (|| {
        file.sync_all()?;
        let bytes = file.metadata()?.len();
        drop(file);
        replace(&tmp, path)?;
        File::open(directory(path))?.sync_all()?;
        Ok::<u64, io::Error>(bytes)
    })();
    let bytes = match synced {
        Ok(bytes) => bytes,
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            return Err(e.into());
        }
    };
    Ok(Some(Saved {
        sessions,
        bytes,
        write,
        sync: started.elapsed() - write,
    }))
}

/// Where a piece goes: its encoded records and their count.
type PieceSink<'a> = dyn FnMut(&[u8], u64) -> Result<(), SnapshotError> + 'a;

/// Encodes the entries of shard `shard` live at `now` into `piece`, a
/// walk's worth at a time, handing each full piece and its record count
/// to `out`. `Ok(false)`: `abort` was raised before the shard was done.
fn encode_shard(
    store: &dyn Walkable,
    shard: usize,
    now: Millis,
    piece: &mut SecretBuf,
    abort: Option<&AtomicBool>,
    out: &mut PieceSink<'_>,
) -> Result<bool, SnapshotError> {
    let mut cursor = Some(WalkCursor::default());
    while let Some(from) = cursor {
        if abort.is_some_and(|abort| abort.load(Ordering::Relaxed)) {
            return Ok(false);
        }
        let mut records = 0u64;
        let mut failed = None;
        cursor = store.walk_shard(shard, from, now, &mut |id, data, flags, expires_at| {
            // Live at `now`, so the lifetime left is what remains after
            // the snapshot's creation time.
            match encode_record(piece, id, data, flags, expires_at - now) {
                Ok(()) => records += 1,
                Err(e) => failed = Some(e),
            }
        });
        if let Some(e) = failed {
            return Err(e);
        }
        out(piece.as_slice(), records)?;
        piece.clear();
    }
    Ok(true)
}

/// A piece's staging buffer: a walk's entries of about 1 KiB each.
fn piece_buffer() -> SecretBuf {
    SecretBuf::with_capacity(PIECE * 1200)
}

/// [`Writing::Live`]: the store streamed, shard after shard, at the end
/// of the file as it grows.
fn write_streamed(
    file: &File,
    writeback: Writeback,
    store: &dyn Walkable,
    now: Millis,
    unix_ms: u64,
    abort: &AtomicBool,
) -> Result<Option<u64>, SnapshotError> {
    let mut writer = Writer::new(Appending { file, writeback }, unix_ms)?;
    let mut piece = piece_buffer();
    for shard in 0..store.shards() {
        let done = encode_shard(
            store,
            shard,
            now,
            &mut piece,
            Some(abort),
            &mut |bytes, n| writer.write_encoded(bytes, n),
        )?;
        if !done {
            return Ok(None);
        }
    }
    let (_, records) = writer.finish()?;
    Ok(Some(records))
}

/// [`Writing::Final`]: a first pass measures every shard's records, which
/// places each shard in the file; then each thread writes the shards it
/// takes at their places, and the header and trailer go last.
fn write_in_place(
    file: &File,
    writeback: &Writeback,
    store: &dyn Walkable,
    now: Millis,
    unix_ms: u64,
    threads: usize,
) -> Result<u64, SnapshotError> {
    let lens = per_shard(store.shards(), threads, |shard| {
        let mut len = 0u64;
        let mut cursor = Some(WalkCursor::default());
        while let Some(from) = cursor {
            cursor = store.walk_shard(shard, from, now, &mut |id, data, _, _| {
                len += (RECORD_HEADER_LEN + id.len() + data.len()) as u64;
            });
        }
        Ok(len)
    })?;
    let mut offsets = Vec::with_capacity(lens.len());
    let mut end = HEADER_LEN as u64;
    for len in &lens {
        offsets.push(end);
        end += len;
    }
    let segments = per_shard(store.shards(), threads, |shard| {
        let mut out = SegmentWriter::new(Placed {
            file,
            offset: offsets[shard],
            writeback: writeback.clone(),
        });
        let mut piece = piece_buffer();
        encode_shard(store, shard, now, &mut piece, None, &mut |bytes, n| {
            out.write_encoded(bytes, n)
        })?;
        let (_, segment) = out.finish()?;
        if segment.len != lens[shard] {
            // Serving has stopped, so nothing can change a shard between
            // the two passes: this is a bug, and the file is not kept.
            return Err(SnapshotError::Io(io::Error::other(format!(
                "shard {shard} changed while it was written ({} bytes measured, {} written)",
                lens[shard], segment.len
            ))));
        }
        Ok(segment)
    })?;
    let head = header(unix_ms);
    file.write_all_at(&head, 0)?;
    file.write_all_at(&trailer(&head, &segments), end)?;
    Ok(segments.iter().map(|segment| segment.records).sum())
}

/// `f` of every shard `0..shards`, run by up to `threads` threads that
/// each take the next shard not yet taken; the results in shard order.
fn per_shard<T: Send>(
    shards: usize,
    threads: usize,
    f: impl Fn(usize) -> Result<T, SnapshotError> + Sync,
) -> Result<Vec<T>, SnapshotError> {
    let next = AtomicUsize::new(0);
    let take = || {
        let mut mine = Vec::new();
        loop {
            let shard = next.fetch_add(1, Ordering::Relaxed);
            if shard >= shards {
                return Ok::<_, SnapshotError>(mine);
            }
            mine.push((shard, f(shard)?));
        }
    };
    let threads = threads.clamp(1, shards.max(1));
    let taken = std::thread::scope(|scope| {
        let helpers = (1..threads)
            .map(|i| {
                std::thread::Builder::new()
                    .name(format!("dc_server-snapshot-{i}"))
                    .spawn_scoped(scope, take)
            })
            .collect::<io::Result<Vec<_>>>()?;
        let mut taken = take()?;
        for helper in helpers {
            match helper.join() {
                Ok(theirs) => taken.extend(theirs?),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        Ok::<_, SnapshotError>(taken)
    })?;
    let mut results: Vec<Option<T>> = (0..shards).map(|_| None).collect();
    for (shard, result) in taken {
        results[shard] = Some(result);
    }
    Ok(results.into_iter().flatten().collect())
}

/// Bytes written after which the disk is asked to start writing them, as
/// Redis's `rdb-save-incremental-fsync` does every 32 MB.
pub const WRITEBACK_EVERY: u64 = 32 << 20;

/// Starts the snapshot's writeback as it is written: every
/// [`WRITEBACK_EVERY`] bytes a writer has written, a thread of its own
/// `fdatasync`s what the file holds so far, so the disk writes while the
/// rest is being copied, instead of all of it in the final fsync (1 GB:
/// about 1.5 s of a restart on the development VM). The thread only starts
/// the work early: its errors are left to the final fsync, which reports
/// them. Each writer has a clone.
#[derive(Clone)]
struct Writeback {
    unsynced: u64,
    kick: mpsc::SyncSender<()>,
}

impl Writeback {
    fn start<'scope>(
        file: &File,
        scope: &'scope std::thread::Scope<'scope, '_>,
    ) -> io::Result<Writeback> {
        let syncer = file.try_clone()?;
        // One pending kick at most: a sync under way covers every byte
        // written before it started, and the next kick the rest.
        let (kick, kicked) = mpsc::sync_channel::<()>(1);
        std::thread::Builder::new()
            .name("dc_server-writeback".into())
            .spawn_scoped(scope, move || {
                while kicked.recv().is_ok() {
                    let _ = syncer.sync_data();
                }
            })?;
        Ok(Writeback { unsynced: 0, kick })
    }

    fn wrote(&mut self, bytes: usize) {
        self.unsynced += bytes as u64;
        if self.unsynced >= WRITEBACK_EVERY {
            self.unsynced = 0;
            let _ = self.kick.try_send(());
        }
    }
}

/// Writes where the file ends.
struct Appending<'f> {
    file: &'f File,
    writeback: Writeback,
}

impl io::Write for Appending<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let written = self.file.write(bytes)?;
        self.writeback.wrote(written);
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes from `offset` on, leaving the file's own position alone, so
/// that several can write one file at once.
struct Placed<'f> {
    file: &'f File,
    offset: u64,
    writeback: Writeback,
}

impl io::Write for Placed<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let written = self.file.write_at(bytes, self.offset)?;
        self.offset += written as u64;
        self.writeback.wrote(written);
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Reads the snapshot at `path`, giving each entry still live to `insert`
/// (id, data, flags, expiry on the store's clock at `now`) with its
/// lifetime capped at `max_ttl`. `Ok(None)`: there is no file (a first
/// start).
pub(super) fn load(
    path: &Path,
    now: Millis,
    unix_ms: u64,
    max_ttl: Millis,
    mut insert: impl FnMut(&[u8], &[u8], u32, Millis),
) -> Result<Option<Loaded>, SnapshotError> {
    let started = Instant::now();
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let kind = file.metadata()?.file_type();
    if kind.is_dir() {
        return Err(SnapshotError::NotAFile("a directory"));
    }
    if !kind.is_file() {
        return Err(SnapshotError::NotAFile("not a regular file"));
    }
    let mut reader = Reader::new(file)?;
    let since = unix_ms.saturating_sub(reader.header().created_unix_ms);
    let (mut sessions, mut expired) = (0, 0);
    while let Some(record) = reader.next_record()? {
        if record.ttl_ms < since {
            expired += 1;
            continue;
        }
        let left = (record.ttl_ms - since).min(max_ttl);
        insert(
            record.id,
            record.data,
            record.flags,
            now.saturating_add(left),
        );
        sessions += 1;
    }
    Ok(Some(Loaded {
        sessions,
        expired,
        took: started.elapsed(),
    }))
}

/// Moves a bad snapshot out of the way, to `FILE.bad-<unix seconds>`, and
/// returns where it went.
pub(super) fn set_aside(path: &Path, unix_ms: u64) -> io::Result<PathBuf> {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".bad-{}", unix_ms / 1000));
    let aside = path.with_file_name(name);
    fs::rename(path, &aside)?;
    Ok(aside)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dc_store::{Limits, SessionStore, StoreMode};

    fn store() -> MemoryStore {
        MemoryStore::new(Limits::new(10_000, 16 << 20).unwrap())
    }

    #[test]
    fn a_store_survives_a_save_and_a_load_with_its_lifetimes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("snap");
        let mut before = store();
        for i in 0..3000u32 {
            let _ = before.store(
                StoreMode::Set,
                &i.to_be_bytes(),
                &[i as u8; 100],
                i % 5,
                1_000 + u64::from(i),
                0,
            );
        }
        // At 1_500 the first 500 have expired.
        let saved = save(
            &path,
            &before,
            1_500,
            10_000_000,
            Writing::Final { threads: 1 },
        )
        .unwrap()
        .unwrap();
        assert_eq!(saved.sessions, 2500);
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(!temporary(&path).exists());

        // Loaded 200 ms of wall clock later, on a fresh clock at 50, with
        // lifetimes capped at 2 s.
        let mut after = store();
        let loaded = load(&path, 50, 10_000_200, 2_000, |id, data, flags, at| {
            let _ = after.store(StoreMode::Set, id, data, flags, at, 50);
        })
        .unwrap()
        .unwrap();
        // Entry i had 1000 + i - 1500 ms left; 200 passed.
        assert_eq!(loaded.sessions, 2500 - 200);
        assert_eq!(loaded.expired, 200);
        let entry = after.entry(&1000u32.to_be_bytes(), 50).unwrap();
        assert_eq!(entry.expires_at, 50 + 1000 + 1000 - 1500 - 200);
        assert_eq!((entry.data, entry.flags), (&[1000u32 as u8; 100][..], 0));
        let capped = after.entry(&2999u32.to_be_bytes(), 50).unwrap();
        assert_eq!(capped.expires_at, 50 + 2_000);
    }

    #[test]
    fn no_file_is_a_first_start_and_an_aborted_save_leaves_the_old_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("snap");
        assert!(load(&path, 0, 0, 1000, |_, _, _, _| {}).unwrap().is_none());
        let mut one = store();
        let _ = one.add(b"id", b"data", 100, 0);
        save(&path, &one, 0, 0, Writing::Final { threads: 1 }).unwrap();
        let aborted = save(&path, &one, 0, 0, Writing::Live(&AtomicBool::new(true))).unwrap();
        assert!(aborted.is_none());
        assert!(!temporary(&path).exists());
        let mut count = 0;
        load(&path, 0, 0, 1000, |_, _, _, _| count += 1).unwrap();
        assert_eq!(count, 1);
    }

    #[test]
    fn a_replaced_snapshot_keeps_a_second_name_until_it_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("snap");
        let old = superseded(&path);
        let mut one = store();
        let _ = one.add(b"first", b"data", 100_000, 0);
        let write = |s: &MemoryStore| save(&path, s, 0, 0, Writing::Final { threads: 1 }).unwrap();
        write(&one);
        assert!(!old.exists(), "nothing was replaced");
        let first = fs::read(&path).unwrap();
        let _ = one.add(b"second", b"data", 100_000, 0);
        write(&one);
        assert_eq!(fs::read(&old).unwrap(), first);
        assert_ne!(fs::read(&path).unwrap(), first);
        assert_eq!(
            fs::metadata(&old).unwrap().permissions().mode() & 0o777,
            0o600
        );
        // A leftover is replaced by the newest replaced one.
        let second = fs::read(&path).unwrap();
        write(&one);
        assert_eq!(fs::read(&old).unwrap(), second);
        remove_superseded(&path);
        assert!(!old.exists());
        assert!(path.exists());
        // Nothing to remove is no error.
        remove_superseded(&path);
    }

    #[test]
    fn shards_written_in_place_by_threads_make_the_file_one_thread_streams() {
        let dir = tempfile::tempdir().unwrap();
        let sharded = ShardedStore::memory(Limits::new(40_000, 64 << 20).unwrap(), 5).unwrap();
        for i in 0..10_000u32 {
            let id = i.to_be_bytes();
            let data = vec![i as u8; (i as usize * 7) % 1500];
            let _ = sharded.lock_shard(sharded.shard_of(&id)).store(
                StoreMode::Set,
                &id,
                &data,
                i,
                100 + u64::from(i),
                0,
            );
        }
        // More threads than shards, as many, fewer, and one.
        let streamed = dir.path().join("streamed");
        let live = save(
            &streamed,
            &sharded,
            300,
            1_000,
            Writing::Live(&AtomicBool::new(false)),
        );
        assert_eq!(live.unwrap().unwrap().sessions, 10_000 - 200);
        let streamed = fs::read(&streamed).unwrap();
        for threads in [8, 5, 2, 1] {
            let path = dir.path().join(format!("in-place-{threads}"));
            let saved = save(&path, &sharded, 300, 1_000, Writing::Final { threads })
                .unwrap()
                .unwrap();
            assert_eq!(saved.sessions, 10_000 - 200);
            assert_eq!(saved.bytes, streamed.len() as u64);
            assert!(fs::read(&path).unwrap() == streamed, "{threads} threads");
        }
    }
}
