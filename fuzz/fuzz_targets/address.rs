//! Address parsing: arbitrary text never panics, and whatever parses prints
//! back to text that parses to the same address.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nal::Address;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(address) = Address::parse(text) {
        let printed = address.to_string();
        let again = Address::parse(&printed).expect("a printed address parses");
        assert_eq!(again, address);
        let _ = (address.can_listen(), address.can_connect());
    }
});
