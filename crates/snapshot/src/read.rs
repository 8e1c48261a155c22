//! [`Reader`]: reads a snapshot record by record, checking as it goes.

use std::io::{ErrorKind, Read};
use std::ops::Range;

use crate::{
    Header, SecretBuf, SnapshotError, FORMAT_VERSION, HEADER_LEN, MAGIC, MAX_DATA_LEN,
    RECORD_HEADER_LEN, RECORD_TAG, TRAILER_LEN, TRAILER_TAG,
};

/// Bytes asked of the file per `read`.
const READ_CHUNK: usize = 256 * 1024;

/// One session as the snapshot holds it, borrowed from the reader's buffer
/// until the next call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// The session id (key).
    pub id: &'a [u8],
    /// The session data.
    pub data: &'a [u8],
    /// memcache's opaque flags (0 for the other protocols).
    pub flags: u32,
    /// Lifetime left, in ms, counted from the header's creation time.
    pub ttl_ms: u64,
}

/// Reads a snapshot from `R`, verifying the structure of every record and,
/// at the end, the trailer's count and checksum. Nothing read can be
/// trusted before [`next_record`](Self::next_record) has returned
/// `Ok(None)`: a caller that must not act on a bad file keeps what it read
/// aside until then.
pub struct Reader<R: Read> {
    inner: R,
    /// `buf[start..end]` is read but not yet consumed; the buffer's length
    /// is its whole capacity.
    buf: SecretBuf,
    start: usize,
    end: usize,
    /// Bytes consumed before `start`.
    offset: u64,
    crc: u32,
    records: u64,
    header: Header,
    finished: bool,
}

impl<R: Read> Reader<R> {
    /// Reads and checks the header.
    ///
    /// # Errors
    ///
    /// [`SnapshotError::Empty`], [`Foreign`](SnapshotError::Foreign),
    /// [`Version`](SnapshotError::Version),
    /// [`Truncated`](SnapshotError::Truncated),
    /// [`Corrupt`](SnapshotError::Corrupt) or the file's own.
    pub fn new(inner: R) -> Result<Reader<R>, SnapshotError> {
        let mut buf = SecretBuf::with_capacity(READ_CHUNK);
        buf.resize(READ_CHUNK);
        let mut reader = Reader {
            inner,
            buf,
            start: 0,
            end: 0,
            offset: 0,
            crc: 0,
            records: 0,
            header: Header { created_unix_ms: 0 },
            finished: false,
        };
        reader.fill(1)?;
        if reader.end == 0 {
            return Err(SnapshotError::Empty);
        }
        // A foreign file shorter than the magic is foreign, not truncated.
        reader.fill(MAGIC.len())?;
        let available = reader.end.min(MAGIC.len());
        let head = &reader.buf.as_slice()[..available];
        if head != &MAGIC[..available] {
            let found = head.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>();
            return Err(SnapshotError::Foreign {
                found: found.join(" "),
            });
        }
        let range = reader.consume(HEADER_LEN, "the header", true)?;
        let head = &reader.buf.as_slice()[range];
        let version = u32_at(head, 8);
        let reserved = u32_at(head, 12);
        let created_unix_ms = u64_at(head, 16);
        if version != FORMAT_VERSION {
            return Err(SnapshotError::Version { found: version });
        }
        if reserved != 0 {
            return Err(SnapshotError::Corrupt {
                offset: 12,
                what: format!("the reserved header field is {reserved:#x}, not 0"),
            });
        }
        reader.header = Header { created_unix_ms };
        Ok(reader)
    }

    /// What the header says.
    pub fn header(&self) -> Header {
        self.header
    }

    /// Records read so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Bytes read so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The next record, or `None` once the trailer was read and its count
    /// and checksum match everything before it (and nothing follows it).
    ///
    /// # Errors
    ///
    /// What is wrong, at the first thing wrong; the reader is then of no
    /// further use.
    pub fn next_record(&mut self) -> Result<Option<Record<'_>>, SnapshotError> {
        if self.finished {
            return Ok(None);
        }
        let at = self.offset;
        self.fill(1)?;
        if self.start == self.end {
            return Err(SnapshotError::Truncated {
                offset: at,
                reading: "the records (no trailer)",
            });
        }
        match self.buf.as_slice()[self.start] {
            RECORD_TAG => {}
            TRAILER_TAG => {
                self.read_trailer()?;
                return Ok(None);
            }
            other => {
                return Err(SnapshotError::Corrupt {
                    offset: at,
                    what: format!("a record starts with {other:#04x}, not 'R' or 'E'"),
                })
            }
        }
        self.fill(RECORD_HEADER_LEN)?;
        if self.end - self.start < RECORD_HEADER_LEN {
            return Err(self.truncated("a record's header"));
        }
        let head = &self.buf.as_slice()[self.start..self.start + RECORD_HEADER_LEN];
        let id_len = usize::from(head[1]);
        let flags = u32_at(head, 2);
        let ttl_ms = u64_at(head, 6);
        let data_len = u32_at(head, 14) as usize;
        if data_len > MAX_DATA_LEN {
            return Err(SnapshotError::Corrupt {
                offset: at + 14,
                what: format!("a record's data length is {data_len}, over {MAX_DATA_LEN}"),
            });
        }
        let range = self.consume(RECORD_HEADER_LEN + id_len + data_len, "a record", true)?;
        let record = &self.buf.as_slice()[range];
        let (id, data) = record[RECORD_HEADER_LEN..].split_at(id_len);
        self.records += 1;
        Ok(Some(Record {
            id,
            data,
            flags,
            ttl_ms,
        }))
    }

    /// Reads the trailer (whose tag is next) and checks it and the end of
    /// the file.
    fn read_trailer(&mut self) -> Result<(), SnapshotError> {
        // The checksum covers everything up to it, the count included.
        let counted = self.consume(TRAILER_LEN - 4, "the trailer", true)?;
        let stored_records = u64_at(&self.buf.as_slice()[counted], 1);
        let computed = self.crc;
        let crc = self.consume(4, "the trailer's checksum", false)?;
        let stored = u32_at(&self.buf.as_slice()[crc], 0);
        if stored != computed {
            return Err(SnapshotError::Checksum { stored, computed });
        }
        if stored_records != self.records {
            return Err(SnapshotError::Count {
                stored: stored_records,
                found: self.records,
            });
        }
        self.fill(1)?;
        if self.start != self.end {
            return Err(SnapshotError::Trailing {
                offset: self.offset,
            });
        }
        self.finished = true;
        Ok(())
    }

    fn truncated(&self, reading: &'static str) -> SnapshotError {
        SnapshotError::Truncated {
            offset: self.offset + (self.end - self.start) as u64,
            reading,
        }
    }

    /// Consumes `n` bytes (hashing them if `hash`) and returns where they
    /// are in the buffer.
    fn consume(
        &mut self,
        n: usize,
        reading: &'static str,
        hash: bool,
    ) -> Result<Range<usize>, SnapshotError> {
        self.fill(n)?;
        if self.end - self.start < n {
            return Err(self.truncated(reading));
        }
        let range = self.start..self.start + n;
        self.start += n;
        self.offset += n as u64;
        if hash {
            self.crc = crc32c::crc32c_append(self.crc, &self.buf.as_slice()[range.clone()]);
        }
        Ok(range)
    }

    /// Reads until `n` bytes are buffered or the file ends.
    fn fill(&mut self, n: usize) -> Result<(), SnapshotError> {
        if self.end - self.start >= n {
            return Ok(());
        }
        if self.start + n > self.buf.len() {
            let live = self.end - self.start;
            if n > self.buf.len() {
                // A record larger than the buffer: move to a larger one
                // (the old one is wiped as it goes).
                let mut grown = SecretBuf::with_capacity(n.max(READ_CHUNK));
                grown.extend(&self.buf.as_slice()[self.start..self.end]);
                let capacity = grown.capacity();
                grown.resize(capacity);
                self.buf = grown;
            } else {
                self.buf.as_mut_slice().copy_within(self.start..self.end, 0);
            }
            self.start = 0;
            self.end = live;
        }
        while self.end - self.start < n {
            match self.inner.read(&mut self.buf.as_mut_slice()[self.end..]) {
                Ok(0) => break,
                Ok(k) => self.end += k,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::IsADirectory => {
                    // EISDIR: a directory opened as the snapshot.
                    return Err(SnapshotError::NotAFile("a directory"));
                }
                Err(e) => return Err(SnapshotError::Io(e)),
            }
        }
        Ok(())
    }
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(word)
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}
