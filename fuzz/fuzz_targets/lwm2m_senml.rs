//! Fuzzes the SenML JSON reader with arbitrary payloads. Besides not panicking, checks that every
//! resolved path prints and parses back to itself.

#![no_main]

use libfuzzer_sys::fuzz_target;
use nbmodem_lwm2m::content::senml;

fuzz_target!(|data: &[u8]| {
    let Ok(pairs) = senml::decode(data) else {
        return;
    };
    for (path, _) in pairs {
        assert_eq!(path.to_string().parse(), Ok(path));
    }
});
