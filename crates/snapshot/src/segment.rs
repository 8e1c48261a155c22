//! Writing one snapshot from several threads. The layout stays the one
//! [`Writer`](crate::Writer) streams; only who writes which bytes changes:
//! a caller that knows how long each run of records will be (the server at
//! shutdown, when its store no longer changes) gives each run its place
//! in the file, writes the runs at once from threads of their own with
//! [`SegmentWriter`]s, then the [`header`] at the start and the
//! [`trailer`] at the end, whose checksum [`trailer`] joins from the
//! runs' own (CRC-32C values combine without a second pass over the
//! bytes).

use std::io::Write;

use crate::{SnapshotError, FORMAT_VERSION, HEADER_LEN, MAGIC, TRAILER_LEN, TRAILER_TAG};

/// The header of a snapshot taken at `created_unix_ms`.
#[must_use]
pub fn header(created_unix_ms: u64) -> [u8; HEADER_LEN] {
    let mut head = [0u8; HEADER_LEN];
    head[..8].copy_from_slice(&MAGIC);
    head[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    head[16..24].copy_from_slice(&created_unix_ms.to_le_bytes());
    head
}

/// A run of records, written: how many, how many bytes, and their
/// checksum on their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Segment {
    /// Records in the run.
    pub records: u64,
    /// Bytes of the run.
    pub len: u64,
    crc: u32,
}

/// The trailer of a snapshot made of `header` and then `segments`, in file
/// order: the record count and the checksum of every byte before it.
#[must_use]
pub fn trailer(header: &[u8; HEADER_LEN], segments: &[Segment]) -> [u8; TRAILER_LEN] {
    let mut crc = crc32c::crc32c(header);
    let mut records = 0u64;
    for segment in segments {
        crc = crc32c::crc32c_combine(crc, segment.crc, segment.len as usize);
        records += segment.records;
    }
    let mut tail = [0u8; TRAILER_LEN];
    tail[0] = TRAILER_TAG;
    tail[1..9].copy_from_slice(&records.to_le_bytes());
    crc = crc32c::crc32c_append(crc, &tail[..9]);
    tail[9..].copy_from_slice(&crc.to_le_bytes());
    tail
}

/// Writes one run of records, encoded with
/// [`encode_record`](crate::encode_record), to `W` (a writer placed at
/// the run's offset), keeping its checksum.
pub struct SegmentWriter<W: Write> {
    inner: W,
    segment: Segment,
}

impl<W: Write> SegmentWriter<W> {
    /// A run starting where `inner` writes.
    pub fn new(inner: W) -> SegmentWriter<W> {
        SegmentWriter {
            inner,
            segment: Segment::default(),
        }
    }

    /// Writes `records` records already encoded.
    ///
    /// # Errors
    ///
    /// The file's.
    pub fn write_encoded(&mut self, bytes: &[u8], records: u64) -> Result<(), SnapshotError> {
        self.segment.crc = crc32c::crc32c_append(self.segment.crc, bytes);
        self.inner.write_all(bytes)?;
        self.segment.records += records;
        self.segment.len += bytes.len() as u64;
        Ok(())
    }

    /// The run as written so far.
    pub fn segment(&self) -> Segment {
        self.segment
    }

    /// Flushes; returns the inner writer and the run.
    ///
    /// # Errors
    ///
    /// The file's.
    pub fn finish(mut self) -> Result<(W, Segment), SnapshotError> {
        self.inner.flush()?;
        Ok((self.inner, self.segment))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{encode_record, Reader, SecretBuf, Writer};

    /// Records `from..to`, encoded.
    fn run(from: u32, to: u32) -> (SecretBuf, u64) {
        let mut buf = SecretBuf::default();
        for i in from..to {
            let data = vec![i as u8; (i as usize * 13) % 700];
            encode_record(
                &mut buf,
                format!("s{i}").as_bytes(),
                &data,
                i,
                u64::from(i) * 10,
            )
            .expect("short");
        }
        (buf, u64::from(to - from))
    }

    #[test]
    fn runs_written_apart_make_the_file_the_writer_streams() {
        let created = 1_700_000_000_123;
        let cuts = [0, 1, 40, 40, 333, 1000];
        let mut streamed = Writer::new(Vec::new(), created).expect("vec");
        let mut segments = Vec::new();
        let mut body = Vec::new();
        for pair in cuts.windows(2) {
            let (buf, records) = run(pair[0], pair[1]);
            streamed
                .write_encoded(buf.as_slice(), records)
                .expect("vec");
            let mut part = SegmentWriter::new(Vec::new());
            part.write_encoded(buf.as_slice(), records).expect("vec");
            let (bytes, segment) = part.finish().expect("vec");
            assert_eq!(segment.len, bytes.len() as u64);
            body.extend(bytes);
            segments.push(segment);
        }
        let (streamed, count) = streamed.finish().expect("vec");
        let head = header(created);
        let mut joined = head.to_vec();
        joined.extend(body);
        joined.extend(trailer(&head, &segments));
        assert_eq!(joined, streamed);
        assert_eq!(count, 1000);
        let mut reader = Reader::new(&joined[..]).expect("header");
        let mut n = 0;
        while reader.next_record().expect("valid").is_some() {
            n += 1;
        }
        assert_eq!(n, 1000);
    }

    #[test]
    fn no_records_at_all() {
        let head = header(5);
        let mut file = head.to_vec();
        file.extend(trailer(&head, &[Segment::default(), Segment::default()]));
        let (streamed, _) = Writer::new(Vec::new(), 5)
            .expect("vec")
            .finish()
            .expect("vec");
        assert_eq!(file, streamed);
    }
}
