//! [`Writer`]: streams records into a snapshot.

use std::io::Write;

use crate::{
    SecretBuf, SnapshotError, MAX_DATA_LEN, MAX_ID_LEN, RECORD_HEADER_LEN, RECORD_TAG, TRAILER_TAG,
};

/// Bytes gathered before one `write` to the file: large enough that the
/// system calls cost nothing next to the copying, small enough to stay in
/// the CPU caches.
const WRITE_CHUNK: usize = 256 * 1024;

/// Appends the encoding of one record to `out`: what
/// [`Writer::write_encoded`] takes, for a caller that gathers records while
/// holding a lock and writes them after releasing it.
///
/// # Errors
///
/// [`SnapshotError::TooLong`] for an id over [`MAX_ID_LEN`] or data over
/// [`MAX_DATA_LEN`] bytes (nothing is appended).
pub fn encode_record(
    out: &mut SecretBuf,
    id: &[u8],
    data: &[u8],
    flags: u32,
    ttl_ms: u64,
) -> Result<(), SnapshotError> {
    let (Ok(id_len), Ok(data_len), true) = (
        u8::try_from(id.len()),
        u32::try_from(data.len()),
        data.len() <= MAX_DATA_LEN,
    ) else {
        return Err(SnapshotError::TooLong {
            id_len: id.len(),
            data_len: data.len(),
        });
    };
    debug_assert!(id.len() <= MAX_ID_LEN);
    let mut head = [0u8; RECORD_HEADER_LEN];
    head[0] = RECORD_TAG;
    head[1] = id_len;
    head[2..6].copy_from_slice(&flags.to_le_bytes());
    head[6..14].copy_from_slice(&ttl_ms.to_le_bytes());
    head[14..18].copy_from_slice(&data_len.to_le_bytes());
    out.reserve(RECORD_HEADER_LEN + id.len() + data.len());
    out.extend(&head);
    out.extend(id);
    out.extend(data);
    Ok(())
}

/// Writes a snapshot to `W`: the header at once, then records, then the
/// trailer at [`finish`](Self::finish). Buffers in a [`SecretBuf`], so
/// wrap a file directly (not in a `BufWriter`, whose buffer is not
/// wiped).
pub struct Writer<W: Write> {
    inner: W,
    buf: SecretBuf,
    crc: u32,
    records: u64,
}

impl<W: Write> Writer<W> {
    /// Starts a snapshot taken at `created_unix_ms`: every record's
    /// `ttl_ms` counts from then.
    ///
    /// # Errors
    ///
    /// Only those of `inner`, when the buffer is flushed (here: never).
    pub fn new(inner: W, created_unix_ms: u64) -> Result<Writer<W>, SnapshotError> {
        let mut writer = Writer {
            inner,
            buf: SecretBuf::with_capacity(WRITE_CHUNK),
            crc: 0,
            records: 0,
        };
        writer.put(&crate::header(created_unix_ms))?;
        Ok(writer)
    }

    /// Writes one record: `data` under `id` with `flags`, `ttl_ms` left to
    /// live after the snapshot's creation time.
    ///
    /// # Errors
    ///
    /// [`SnapshotError::TooLong`] (nothing written), or the file's.
    pub fn write_record(
        &mut self,
        id: &[u8],
        data: &[u8],
        flags: u32,
        ttl_ms: u64,
    ) -> Result<(), SnapshotError> {
        if self.buf.len() + RECORD_HEADER_LEN + id.len() + data.len() > WRITE_CHUNK {
            self.flush_buf()?;
        }
        // A record larger than the whole buffer grows it once; records are
        // rarely over a few KiB.
        encode_record(&mut self.buf, id, data, flags, ttl_ms)?;
        self.records += 1;
        Ok(())
    }

    /// Writes `records` records already encoded with [`encode_record`].
    ///
    /// # Errors
    ///
    /// The file's.
    pub fn write_encoded(&mut self, encoded: &[u8], records: u64) -> Result<(), SnapshotError> {
        self.put(encoded)?;
        self.records += records;
        Ok(())
    }

    /// Records written so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Writes the trailer and flushes. Returns the inner writer (to sync
    /// a file) and the number of records.
    ///
    /// # Errors
    ///
    /// The file's.
    pub fn finish(mut self) -> Result<(W, u64), SnapshotError> {
        let mut tail = [0u8; 9];
        tail[0] = TRAILER_TAG;
        tail[1..9].copy_from_slice(&self.records.to_le_bytes());
        self.put(&tail)?;
        self.flush_buf()?;
        // The checksum covers every byte before it, so it is hashed last.
        self.inner.write_all(&self.crc.to_le_bytes())?;
        self.inner.flush()?;
        let records = self.records;
        let Writer { inner, .. } = self;
        Ok((inner, records))
    }

    /// Appends bytes to the stream, through the buffer or, for a large
    /// slice, straight to the file after what is buffered.
    fn put(&mut self, bytes: &[u8]) -> Result<(), SnapshotError> {
        if self.buf.len() + bytes.len() > WRITE_CHUNK {
            self.flush_buf()?;
        }
        if bytes.len() >= WRITE_CHUNK {
            self.crc = crc32c::crc32c_append(self.crc, bytes);
            self.inner.write_all(bytes)?;
        } else {
            self.buf.extend(bytes);
        }
        Ok(())
    }

    fn flush_buf(&mut self) -> Result<(), SnapshotError> {
        if !self.buf.is_empty() {
            self.crc = crc32c::crc32c_append(self.crc, self.buf.as_slice());
            self.inner.write_all(self.buf.as_slice())?;
            self.buf.clear();
        }
        Ok(())
    }
}
