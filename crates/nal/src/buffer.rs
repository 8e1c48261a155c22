//! A capped byte FIFO for a connection's read and send sides; see [`Buffer`].

use std::fmt;
use std::io::{self, Read, Write};

/// How much room, at least, a read is offered when the cap allows it; also
/// the first allocation of a buffer that receives data.
pub const MIN_READ: usize = 4096;

/// A drained buffer whose storage is larger than this frees it.
pub const RELEASE_ABOVE: usize = 64 * 1024;

/// An append did not fit: the buffer would exceed its cap. Nothing was
/// appended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("buffer full: {additional} more bytes do not fit ({len} of {cap} bytes in use)")]
pub struct BufferFull {
    /// Bytes held when the append was refused.
    pub len: usize,
    /// The buffer's cap.
    pub cap: usize,
    /// Bytes the append tried to add.
    pub additional: usize,
}

/// A byte FIFO that never holds more than `cap` bytes.
///
/// Memory layout: one `Vec<u8>` holds the bytes, with two indices into it.
///
/// ```text
///  0          start              end            storage.len()   cap
///  |-consumed-|------unread------|--spare (init)--|..(not alloc)..|
/// ```
///
/// * The unread bytes are always contiguous, so a decoder can parse
///   [`Buffer::as_slice`] in place.
/// * The storage grows on demand and never beyond `cap`, so a server with
///   thousands of mostly idle connections and 1 MiB caps does not hold
///   gigabytes. Bytes past `end` stay initialised, so reading into the spare
///   room needs no zeroing (and no `unsafe`) after the first growth.
/// * Consumed bytes are reclaimed by moving the unread ones to the front.
///   That happens when the consumed prefix is at least as long as the unread
///   part (so the copy is paid for by the bytes consumed: amortised O(1) per
///   byte), or when an append would otherwise run past `cap`. The latter can
///   cost up to `len` per call while the buffer stays nearly full; a nearly
///   full buffer means the peer is not keeping up, which the caller must
///   handle anyway.
/// * Once it drains, a buffer larger than [`RELEASE_ABOVE`] gives its memory
///   back, so one burst does not pin a large allocation to an idle
///   connection.
pub struct Buffer {
    storage: Vec<u8>,
    start: usize,
    end: usize,
    cap: usize,
}

impl Buffer {
    /// An empty buffer that will hold at most `cap` bytes. Allocates nothing
    /// until bytes arrive.
    pub fn new(cap: usize) -> Buffer {
        Buffer {
            storage: Vec::new(),
            start: 0,
            end: 0,
            cap,
        }
    }

    /// Number of unread bytes.
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// Whether there are no unread bytes.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// The most bytes this buffer will hold.
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// How many more bytes fit: `cap() - len()`.
    pub fn space(&self) -> usize {
        self.cap - self.len()
    }

    /// The unread bytes, oldest first.
    pub fn as_slice(&self) -> &[u8] {
        &self.storage[self.start..self.end]
    }

    /// Drops the first `n` unread bytes (all of them if `n > len()`).
    pub fn consume(&mut self, n: usize) {
        self.start += n.min(self.len());
        if self.start == self.end {
            self.clear();
        }
    }

    /// Drops every unread byte.
    pub fn clear(&mut self) {
        self.start = 0;
        self.end = 0;
        if self.storage.len() > RELEASE_ABOVE {
            self.storage = Vec::new();
        }
    }

    /// Appends all of `data`, or nothing if it does not fit.
    pub fn extend(&mut self, data: &[u8]) -> Result<(), BufferFull> {
        if data.len() > self.space() {
            return Err(self.full(data.len()));
        }
        self.make_room(data.len());
        let new_end = self.end + data.len();
        if new_end <= self.storage.len() {
            self.storage[self.end..new_end].copy_from_slice(data);
        } else {
            self.storage.truncate(self.end);
            self.storage.extend_from_slice(data);
        }
        self.end = new_end;
        Ok(())
    }

    /// Lets `append` write straight into the buffer, so an encoder need not
    /// build its output elsewhere and copy it.
    ///
    /// `append` gets the storage vector and must only push to it (it must
    /// not remove or change bytes already there). It may push at most
    /// `max_additional` bytes, and no more than [`space`](Self::space). If it
    /// pushes more, everything it pushed is removed and `BufferFull` is
    /// returned, so the append is all or nothing. The vector has room for
    /// `min(max_additional, space())` bytes reserved before the call.
    pub fn extend_with<F>(&mut self, max_additional: usize, append: F) -> Result<(), BufferFull>
    where
        F: FnOnce(&mut Vec<u8>),
    {
        let allowed = max_additional.min(self.space());
        self.make_room(allowed);
        self.storage.truncate(self.end);
        append(&mut self.storage);
        if self.storage.len() < self.end {
            // The closure broke its contract and removed unread bytes. Keep
            // the indices inside the vector rather than panic later.
            self.end = self.storage.len();
            self.start = self.start.min(self.end);
            return Ok(());
        }
        let written = self.storage.len() - self.end;
        if written > allowed {
            let err = self.full(written);
            self.storage.truncate(self.end);
            self.storage.shrink_to(self.cap);
            return Err(err);
        }
        self.end += written;
        Ok(())
    }

    /// Does one `read` from `reader` into the spare room.
    ///
    /// Returns the number of bytes read. `Ok(0)` means end of file only when
    /// [`space`](Self::space) was non-zero before the call; on a full buffer
    /// this returns `Ok(0)` without reading. Errors, including `WouldBlock`
    /// and `Interrupted`, are passed through untouched.
    pub fn read_from<R: Read + ?Sized>(&mut self, reader: &mut R) -> io::Result<usize> {
        self.read_offered(reader).map(|(n, _)| n)
    }

    /// [`read_from`](Self::read_from), also returning how many bytes the
    /// read was offered: a read that returns fewer than offered from a
    /// plain socket has emptied the socket's receive queue.
    pub(crate) fn read_offered<R: Read + ?Sized>(
        &mut self,
        reader: &mut R,
    ) -> io::Result<(usize, usize)> {
        let space = self.space();
        if space == 0 {
            return Ok((0, 0));
        }
        let want = MIN_READ.min(space);
        self.make_room(want);
        let want_end = self.end + want;
        if self.storage.len() < want_end {
            let target = want_end.max(self.storage.len() * 2).min(self.cap);
            self.reserve_storage(target);
            self.storage.resize(target, 0);
        }
        let offered = self.storage.len() - self.end;
        let n = reader.read(&mut self.storage[self.end..])?;
        // A reader claiming more than it was given would break our indices.
        self.end += n.min(offered);
        Ok((n, offered))
    }

    /// Does one `write` of the unread bytes to `writer` and consumes what it
    /// took.
    ///
    /// Returns `Ok(0)` without writing when the buffer is empty; `Ok(0)` on a
    /// non-empty buffer means the writer accepted nothing. Errors, including
    /// `WouldBlock`, are passed through untouched.
    pub fn write_to<W: Write + ?Sized>(&mut self, writer: &mut W) -> io::Result<usize> {
        if self.is_empty() {
            return Ok(0);
        }
        let n = writer.write(self.as_slice())?;
        self.consume(n.min(self.len()));
        Ok(n)
    }

    fn full(&self, additional: usize) -> BufferFull {
        BufferFull {
            len: self.len(),
            cap: self.cap,
            additional,
        }
    }

    /// Makes `end + additional <= cap` hold, given `additional <= space()`,
    /// moving the unread bytes to the front when that is needed or cheap.
    fn make_room(&mut self, additional: usize) {
        if self.start > 0 && (self.start >= self.len() || self.end + additional > self.cap) {
            self.storage.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        self.reserve_storage(self.end + additional);
    }

    /// Ensures the vector's capacity is at least `needed`, growing
    /// geometrically but never past `cap`, since `Vec`'s own growth policy
    /// would overshoot it.
    fn reserve_storage(&mut self, needed: usize) {
        if self.storage.capacity() >= needed {
            return;
        }
        let target = needed
            .max(self.storage.capacity() * 2)
            .max(MIN_READ)
            .min(self.cap)
            .max(needed);
        self.storage.reserve_exact(target - self.storage.len());
    }

    #[cfg(test)]
    fn storage_len(&self) -> usize {
        self.storage.len()
    }
}

impl fmt::Debug for Buffer {
    // The contents may be large and binary; their size is what helps.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Buffer")
            .field("len", &self.len())
            .field("cap", &self.cap)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out at most `chunk` bytes of `data` per call.
    struct Trickle<'a> {
        data: &'a [u8],
        chunk: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.chunk.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    /// A writer that accepts at most `chunk` bytes per call.
    struct Sink {
        got: Vec<u8>,
        chunk: usize,
    }

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let n = self.chunk.min(buf.len());
            self.got.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn fifo_basics() {
        let mut b = Buffer::new(10);
        assert!(b.is_empty());
        assert_eq!((b.len(), b.cap(), b.space()), (0, 10, 10));
        assert_eq!(b.storage.capacity(), 0, "nothing allocated up front");
        b.extend(b"hello").unwrap();
        b.extend(b"world").unwrap();
        assert_eq!(b.as_slice(), b"helloworld");
        assert_eq!(b.space(), 0);
        b.consume(3);
        assert_eq!(b.as_slice(), b"loworld");
        b.consume(7);
        assert!(b.is_empty());
        b.extend(b"x").unwrap();
        b.clear();
        assert!(b.is_empty());
    }

    #[test]
    fn extend_is_all_or_nothing() {
        let mut b = Buffer::new(8);
        b.extend(b"12345").unwrap();
        let err = b.extend(b"6789").unwrap_err();
        assert_eq!(
            err,
            BufferFull {
                len: 5,
                cap: 8,
                additional: 4
            }
        );
        assert_eq!(
            err.to_string(),
            "buffer full: 4 more bytes do not fit (5 of 8 bytes in use)"
        );
        assert_eq!(b.as_slice(), b"12345");
        b.extend(b"678").unwrap();
        assert_eq!(b.as_slice(), b"12345678");
    }

    #[test]
    fn compaction_keeps_storage_within_cap() {
        let mut b = Buffer::new(16);
        b.extend(b"0123456789abcdef").unwrap();
        // Consume less than half so only the cap forces the move.
        b.consume(4);
        b.extend(b"ghij").unwrap();
        assert_eq!(b.as_slice(), b"456789abcdefghij");
        assert!(b.storage_len() <= 16 && b.storage.capacity() <= 16);
        // Many small cycles: storage never grows past the cap.
        for round in 0..1000u32 {
            b.consume(3);
            let bytes = round.to_be_bytes();
            b.extend(&bytes[1..]).unwrap();
            assert_eq!(b.len(), 16);
            assert!(b.storage_len() <= 16);
        }
    }

    #[test]
    fn cheap_compaction_once_half_consumed() {
        let mut b = Buffer::new(1024);
        b.extend(&[7u8; 100]).unwrap();
        b.consume(60);
        b.extend(b"z").unwrap();
        assert_eq!(
            b.start, 0,
            "moved once the consumed prefix outgrew the rest"
        );
        assert_eq!(b.len(), 41);
        assert_eq!(b.as_slice()[40], b'z');
    }

    #[test]
    fn extend_with_checks_the_cap() {
        let mut b = Buffer::new(8);
        b.extend(b"ab").unwrap();
        b.extend_with(4, |v| v.extend_from_slice(b"cdef")).unwrap();
        assert_eq!(b.as_slice(), b"abcdef");
        // More than promised: rolled back.
        let err = b
            .extend_with(1, |v| v.extend_from_slice(b"gh"))
            .unwrap_err();
        assert_eq!(err.additional, 2);
        assert_eq!(b.as_slice(), b"abcdef");
        // Within the promise but over the cap: rolled back.
        let err = b
            .extend_with(10, |v| v.extend_from_slice(b"ghi"))
            .unwrap_err();
        assert_eq!((err.len, err.cap, err.additional), (6, 8, 3));
        assert_eq!(b.as_slice(), b"abcdef");
        assert!(b.storage.capacity() <= 8);
        b.extend_with(10, |v| v.extend_from_slice(b"gh")).unwrap();
        assert_eq!(b.as_slice(), b"abcdefgh");
        // Writing into a partly consumed buffer lands after the unread bytes.
        b.consume(7);
        b.extend_with(7, |v| v.extend_from_slice(b"1234567"))
            .unwrap();
        assert_eq!(b.as_slice(), b"h1234567");
    }

    #[test]
    fn read_from_respects_the_cap() {
        let data: Vec<u8> = (0..100u8).collect();
        let mut reader = Trickle {
            data: &data,
            chunk: 7,
        };
        let mut b = Buffer::new(30);
        let mut total = 0;
        loop {
            let n = b.read_from(&mut reader).unwrap();
            if n == 0 {
                break;
            }
            total += n;
        }
        assert_eq!(total, 30);
        assert_eq!(b.space(), 0, "Ok(0) on a full buffer is not EOF");
        assert_eq!(b.as_slice(), &data[..30]);
        assert!(b.storage_len() <= 30);
        b.consume(25);
        assert_eq!(b.read_from(&mut reader).unwrap(), 7);
        assert_eq!(&b.as_slice()[..5], &data[25..30]);
        assert_eq!(&b.as_slice()[5..], &data[30..37]);
        // Drain the reader: then Ok(0) with space left is EOF.
        let mut rest = Vec::new();
        loop {
            rest.extend_from_slice(b.as_slice());
            b.clear();
            if b.read_from(&mut reader).unwrap() == 0 {
                break;
            }
        }
        assert_eq!(rest, &data[25..]);
    }

    #[test]
    fn read_from_grows_lazily_and_releases() {
        let big = vec![1u8; 200 * 1024];
        let mut reader = Trickle {
            data: &big,
            chunk: usize::MAX,
        };
        let mut b = Buffer::new(1 << 20);
        assert_eq!(b.read_from(&mut reader).unwrap(), MIN_READ);
        assert!(b.storage_len() < 1 << 20, "no full-cap allocation");
        while b.read_from(&mut reader).unwrap() > 0 {}
        assert_eq!(b.len(), big.len());
        b.consume(big.len());
        assert_eq!(
            b.storage.capacity(),
            0,
            "large storage released when drained"
        );
    }

    #[test]
    fn write_to_consumes_what_was_written() {
        let mut b = Buffer::new(64);
        let mut sink = Sink {
            got: Vec::new(),
            chunk: 5,
        };
        assert_eq!(b.write_to(&mut sink).unwrap(), 0);
        b.extend(b"0123456789ab").unwrap();
        assert_eq!(b.write_to(&mut sink).unwrap(), 5);
        assert_eq!(b.as_slice(), b"56789ab");
        while !b.is_empty() {
            b.write_to(&mut sink).unwrap();
        }
        assert_eq!(sink.got, b"0123456789ab");
    }

    #[test]
    fn zero_cap_buffer_holds_nothing() {
        let mut b = Buffer::new(0);
        assert!(b.extend(b"").is_ok());
        assert!(b.extend(b"x").is_err());
        let mut reader = Trickle {
            data: b"abc",
            chunk: 3,
        };
        assert_eq!(b.read_from(&mut reader).unwrap(), 0);
    }
}
