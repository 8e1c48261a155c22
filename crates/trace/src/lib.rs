//! Placeholder: dc_snoop decoding is being written (issue 4).
