//! RESP2 (skeleton: filled in by the RESP work).
