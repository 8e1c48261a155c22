//! [`SecretBuf`]: a byte buffer for session data that leaves no copy behind.

use zeroize::Zeroize;

/// A growable byte buffer that wipes its memory when dropped and, when it must grow, moves into a new allocation and wipes the old
/// one (a `Vec` would hand the old one back to the allocator unwiped).
#[derive(Default)]
pub struct SecretBuf {
    bytes: Vec<u8>,
}

impl SecretBuf {
    /// An empty buffer with room for `capacity` bytes.
    #[must_use]
    pub fn with_capacity(capacity: usize) -> SecretBuf {
        SecretBuf {
            bytes: Vec::with_capacity(capacity),
        }
    }

    /// Appends `more`, growing (to at least twice the size) if needed.
    pub fn extend(&mut self, more: &[u8]) {
        self.reserve(more.len());
        self.bytes.extend_from_slice(more);
    }

    /// Makes room for `more` bytes beyond the length without a reallocation
    /// that would leave an unwiped copy.
    pub fn reserve(&mut self, more: usize) {
        let needed = self.bytes.len().saturating_add(more);
        if needed > self.bytes.capacity() {
            let mut grown = Vec::with_capacity(needed.max(self.bytes.capacity() * 2));
            grown.extend_from_slice(&self.bytes);
            std::mem::swap(&mut grown, &mut self.bytes);
            grown.zeroize();
        }
    }

    /// The bytes held.
    #[must_use]
    pub fn as_slice(&self) -> &[u8] {
        &self.bytes
    }

    /// The bytes held, to change in place.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.bytes
    }

    /// Bytes held.
    #[must_use]
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether nothing is held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Room before the next growth.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.bytes.capacity()
    }

    /// Sets the length to `len` (at most the capacity: clamped), new bytes
    /// zero.
    pub fn resize(&mut self, len: usize) {
        let len = len.min(self.bytes.capacity());
        self.bytes.resize(len, 0);
    }

    /// Empties the buffer, keeping its allocation. The old bytes stay in
    /// it until overwritten or until the buffer is dropped or
    /// [`wipe`](Self::wipe)d: wiping on every refill would cost a second
    /// pass over every byte written.
    pub fn clear(&mut self) {
        self.bytes.clear();
    }

    /// Wipes the whole allocation and empties the buffer.
    pub fn wipe(&mut self) {
        // `Vec::zeroize` wipes the whole capacity, then clears.
        self.bytes.zeroize();
    }
}

impl Drop for SecretBuf {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

/// Shows the length only: the bytes are secrets.
impl std::fmt::Debug for SecretBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretBuf({} bytes)", self.bytes.len())
    }
}
