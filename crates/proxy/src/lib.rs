//! Placeholder: the dc_client multiplexer is being written (issue 3).
