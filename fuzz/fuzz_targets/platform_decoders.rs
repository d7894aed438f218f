//! Fuzzes what the stand-in platforms decode from requests: self-registration records (both
//! registries), CMDMP endpoint names and their encrypted identity, fault settings and control
//! lines, and the capping of a record's fields. Besides not panicking: a record that decodes
//! keeps the operators' rules and encodes back to itself, a fault prints back to itself, and
//! capped fields stay small whatever JSON they came from.

#![no_main]

use libfuzzer_sys::fuzz_target;
use nbmodem_clock::Instant;
use nbmodem_operators::dm::{decrypt, parse_name};
use nbmodem_operators::selfreg::{check_field, RegistrationRecord, Registry, MAX_BODY};
use nbmodem_platform::control::ControlCommand;
use nbmodem_platform::record::RECORD_TEXT;
use nbmodem_platform::{Fault, RequestRecord, Server, ServerFault};
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    for registry in [Registry::ChinaTelecom, Registry::ChinaUnicom] {
        if let Ok(record) = RegistrationRecord::decode(registry, data) {
            assert!(data.len() <= MAX_BODY);
            assert_eq!(check_field("MEID", &record.meid), Ok(()));
            assert_eq!(check_field("SIM1LTEIMSI", &record.imsi), Ok(()));
            let again = RegistrationRecord::decode(registry, &record.encode(registry));
            assert_eq!(again, Ok(record));
        }
    }
    let text = String::from_utf8_lossy(data);
    if let Ok(name) = parse_name(&text) {
        let _ = name.identity("0123456789abcdef");
    }
    let _ = decrypt("0123456789abcdef", &text);
    if let Ok(fault) = text.parse::<Fault>() {
        assert_eq!(fault.to_string().parse::<Fault>(), Ok(fault));
    }
    let _ = text.parse::<ServerFault>();
    let _ = text.parse::<ControlCommand>();
    if let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(data) {
        let from = "127.0.0.1:1".parse().unwrap();
        let record = RequestRecord::new(Server::Dm, Instant::from_unix_millis(0), from, "other").fields(fields);
        let stored = serde_json::to_string(&record.fields).unwrap();
        assert!(stored.len() < 8 * RECORD_TEXT, "{} bytes stored", stored.len());
    }
});
