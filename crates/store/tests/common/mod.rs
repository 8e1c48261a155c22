//! Helpers shared by the memory-overhead tests (each test binary measures
//! its own process, so each is a file of its own).

/// The `i`th session id: 32 bytes, distinct for every `i`, spread over the
/// hash space as real session ids are.
pub fn id(i: u64) -> [u8; 32] {
    let mut id = [0u8; 32];
    id[..8].copy_from_slice(&i.to_le_bytes());
    id[24..].copy_from_slice(&i.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes());
    id
}

/// Resident set size of this process, in bytes, from /proc/self/status.
pub fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a VmRSS line in /proc/self/status");
    kb * 1024
}
