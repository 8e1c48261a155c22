//! End-to-end tests for dc_client are written with its issue.
