//! memcache (skeleton: filled in by the memcache work).
