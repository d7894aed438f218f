//! Fuzzes the link-format parser with arbitrary payloads. Besides not panicking, checks that
//! whatever parses serializes and parses back to the same links, and runs the registration and
//! path helpers on it.

#![no_main]

use libfuzzer_sys::fuzz_target;
use nbmodem_lwm2m::content::link;

fuzz_target!(|data: &[u8]| {
    let Ok(links) = link::parse(data) else {
        return;
    };
    let text = link::serialize(&links).expect("parsed links serialize");
    assert_eq!(link::parse(text.as_bytes()).as_ref(), Ok(&links));
    if let Ok(objects) = link::registered_objects(&links) {
        assert!(objects.len() <= links.len());
    }
    for link in &links {
        if let Ok(path) = link.path() {
            assert_eq!(path.to_string().parse(), Ok(path));
        }
    }
});
