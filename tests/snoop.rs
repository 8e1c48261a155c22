//! End-to-end tests for dc_snoop are written with its issue.
