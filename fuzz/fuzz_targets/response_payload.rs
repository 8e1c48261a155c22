//! Response payload classification, for every operation.
#![no_main]

use dc_protocol::{Operation, Response};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&op, payload)) = data.split_first() else {
        return;
    };
    let Some(operation) = Operation::from_byte(op % 4) else {
        return;
    };
    if let Ok(response) = Response::parse(operation, payload) {
        let _ = response.status();
        let mut out = Vec::new();
        response
            .encode(&mut out, 1, operation)
            .expect("a parsed response re-encodes");
    }
});
