//! The format's round trip, and every way a file can be damaged.

use proptest::prelude::*;

use crate::{Reader, SnapshotError, Writer, FORMAT_VERSION, HEADER_LEN, MAGIC, TRAILER_LEN};

/// A session as the tests describe it: id, data, flags, ttl.
type Session = (Vec<u8>, Vec<u8>, u32, u64);

fn write(sessions: &[Session], created: u64) -> Vec<u8> {
    let mut writer = Writer::new(Vec::new(), created).unwrap();
    for (id, data, flags, ttl) in sessions {
        writer.write_record(id, data, *flags, *ttl).unwrap();
    }
    let (file, count) = writer.finish().unwrap();
    assert_eq!(count, sessions.len() as u64);
    file
}

fn read(file: &[u8]) -> Result<(u64, Vec<Session>), SnapshotError> {
    let mut reader = Reader::new(file)?;
    let mut sessions = Vec::new();
    while let Some(r) = reader.next_record()? {
        sessions.push((r.id.to_vec(), r.data.to_vec(), r.flags, r.ttl_ms));
    }
    Ok((reader.header().created_unix_ms, sessions))
}

fn sample() -> Vec<Session> {
    vec![
        (b"first".to_vec(), vec![7; 100], 0, 1_000),
        (Vec::new(), b"an empty key (RESP allows it)".to_vec(), 42, 0),
        (vec![0xff; 255], vec![1; 400], u32::MAX, u64::MAX),
        (b"k".to_vec(), Vec::new(), 1, 86_400_000),
    ]
}

proptest! {
    #[test]
    fn what_is_written_is_read_back(
        sessions in proptest::collection::vec(
            (
                proptest::collection::vec(any::<u8>(), 0..=255),
                proptest::collection::vec(any::<u8>(), 0..1500),
                any::<u32>(),
                any::<u64>(),
            ),
            0..20,
        ),
        created in any::<u64>(),
    ) {
        let file = write(&sessions, created);
        let (read_created, read_sessions) = read(&file).unwrap();
        prop_assert_eq!(read_created, created);
        prop_assert_eq!(read_sessions, sessions);
    }
}

#[test]
fn the_layout_is_as_documented() {
    let file = write(&[(b"id".to_vec(), b"data".to_vec(), 5, 9)], 0x0102);
    assert_eq!(&file[..8], &MAGIC);
    assert_eq!(&file[8..12], &FORMAT_VERSION.to_le_bytes());
    assert_eq!(&file[16..24], &0x0102u64.to_le_bytes());
    let record = &file[HEADER_LEN..];
    assert_eq!(record[0], b'R');
    assert_eq!(record[1], 2);
    assert_eq!(&record[2..6], &5u32.to_le_bytes());
    assert_eq!(&record[6..14], &9u64.to_le_bytes());
    assert_eq!(&record[14..18], &4u32.to_le_bytes());
    assert_eq!(&record[18..24], b"iddata");
    let trailer = &record[24..];
    assert_eq!(trailer.len(), TRAILER_LEN);
    assert_eq!(trailer[0], b'E');
    assert_eq!(&trailer[1..9], &1u64.to_le_bytes());
    let crc = crc32c::crc32c(&file[..file.len() - 4]);
    assert_eq!(&trailer[9..], &crc.to_le_bytes());
}

#[test]
fn records_larger_than_the_buffers_pass_through() {
    let big = vec![(b"big".to_vec(), vec![0xab; crate::MAX_DATA_LEN], 0, 1)];
    let file = write(&big, 1);
    assert_eq!(read(&file).unwrap().1, big);
}

#[test]
fn an_empty_snapshot_is_valid() {
    assert_eq!(read(&write(&[], 7)).unwrap(), (7, Vec::new()));
}

#[test]
fn every_truncation_is_caught() {
    let file = write(&sample(), 1);
    assert!(matches!(read(&[]), Err(SnapshotError::Empty)));
    for len in 1..file.len() {
        match read(&file[..len]) {
            Err(SnapshotError::Truncated { offset, .. }) => {
                assert_eq!(offset, len as u64, "cut at {len}")
            }
            other => panic!("cut at {len}: {other:?}"),
        }
    }
}

#[test]
fn every_flipped_byte_is_caught() {
    let file = write(&sample(), 1);
    for at in 0..file.len() {
        let mut bad = file.clone();
        bad[at] ^= 0x10;
        assert!(read(&bad).is_err(), "byte {at} flipped went unnoticed");
    }
}

#[test]
fn each_fault_is_named() {
    let file = write(&sample(), 1);
    let e = read(b"GIF89a and the rest").unwrap_err();
    assert!(matches!(e, SnapshotError::Foreign { .. }), "{e:?}");
    assert!(e.to_string().contains("47 49 46 38"), "{e}");
    assert!(matches!(read(b"R"), Err(SnapshotError::Foreign { .. })));

    let mut version = file.clone();
    version[8..12].copy_from_slice(&2u32.to_le_bytes());
    let e = read(&version).unwrap_err();
    assert!(matches!(e, SnapshotError::Version { found: 2 }), "{e:?}");
    assert!(e.to_string().contains("version 2"), "{e}");

    let mut flipped = file.clone();
    flipped[HEADER_LEN + 30] ^= 1; // in the first record's data
    assert!(matches!(
        read(&flipped),
        Err(SnapshotError::Checksum { .. })
    ));

    let mut tag = file.clone();
    tag[HEADER_LEN] = b'X';
    assert!(matches!(read(&tag), Err(SnapshotError::Corrupt { .. })));

    let mut long = file.clone();
    long[HEADER_LEN + 14..HEADER_LEN + 18].copy_from_slice(&u32::MAX.to_le_bytes());
    let e = read(&long).unwrap_err();
    assert!(matches!(e, SnapshotError::Corrupt { .. }), "{e:?}");

    let mut trailing = file.clone();
    trailing.push(0);
    assert!(matches!(
        read(&trailing),
        Err(SnapshotError::Trailing { .. })
    ));

    // A count that lies, with a checksum recomputed to match.
    let mut count = file.clone();
    let at = count.len() - TRAILER_LEN + 1;
    count[at..at + 8].copy_from_slice(&9u64.to_le_bytes());
    let crc = crc32c::crc32c(&count[..count.len() - 4]);
    let end = count.len();
    count[end - 4..].copy_from_slice(&crc.to_le_bytes());
    let e = read(&count).unwrap_err();
    assert!(
        matches!(
            e,
            SnapshotError::Count {
                stored: 9,
                found: 4
            }
        ),
        "{e:?}"
    );
}

#[test]
fn a_directory_is_not_a_snapshot() {
    let dir = std::env::temp_dir();
    let file = std::fs::File::open(&dir).unwrap();
    let e = Reader::new(file).err().expect("a directory is refused");
    assert!(matches!(e, SnapshotError::NotAFile(_)), "{e:?}");
}

#[test]
fn too_long_records_are_refused_when_written() {
    let mut writer = Writer::new(Vec::new(), 0).unwrap();
    let e = writer.write_record(&[0; 256], b"", 0, 0).unwrap_err();
    assert!(
        matches!(e, SnapshotError::TooLong { id_len: 256, .. }),
        "{e:?}"
    );
    assert_eq!(writer.records(), 0);
}
