//! The China Telecom IoT platform and CTWing AEP over LwM2M (protocols.md §4): what both sides of
//! the link agree on.
//!
//! The device registers with its IMEI as endpoint name; the platform observes [`UPLINK`] and each
//! uplink is a notification on that observation (Content-Format 42); a downlink is a Write to
//! [`DOWNLINK`]. Over DTLS the PSK identity is the IMEI. The IoT platform's codec answers an
//! uplink with [`REPLY`].

/// Where the platforms are (protocols.md §4.1).
pub const IOT_ADDRESS: &str = "180.101.147.115";
pub const AEP_ADDRESS: &str = "221.229.214.202";
pub const AEP_NAME: &str = "lwm2m.ctwing.cn";
/// The platform a host of AT+NCDPOPEN names, as a console says it: CTWing AEP by its address or
/// name, the China Telecom IoT platform otherwise (its address, or a server of the user's that
/// speaks its protocol).
pub fn platform_name(host: &str) -> &'static str {
    if host == AEP_ADDRESS || host.eq_ignore_ascii_case(AEP_NAME) {
        "CTWing AEP"
    } else {
        "CT IoT"
    }
}

/// Plain CoAP, and DTLS.
pub const PLAIN_PORT: u16 = 5683;
pub const DTLS_PORT: u16 = 5684;

/// The data object: instance 0 carries uplinks, instance 1 downlinks (resource 0 each).
pub const DATA_OBJECT: u16 = 19;
pub const UPLINK: [u16; 3] = [DATA_OBJECT, 0, 0];
pub const DOWNLINK: [u16; 3] = [DATA_OBJECT, 1, 0];

/// Object 5, Firmware Update (protocols.md §5): the resources the platforms use, and the
/// states and results both sides read.
pub mod firmware {
    pub const OBJECT: u16 = 5;
    pub const PACKAGE_URI: u16 = 1;
    pub const UPDATE: u16 = 2;
    pub const STATE: u16 = 3;
    pub const UPDATE_RESULT: u16 = 5;
    pub const DELIVERY_METHOD: u16 = 8;

    /// The path of a resource of instance 0: `/5/0/<resource>`.
    pub const fn path(resource: u16) -> [u16; 3] {
        [OBJECT, 0, resource]
    }

    /// The states (/5/0/3).
    pub mod state {
        pub const IDLE: u8 = 0;
        pub const DOWNLOADING: u8 = 1;
        pub const DOWNLOADED: u8 = 2;
        pub const UPDATING: u8 = 3;
    }

    /// The update results (/5/0/5).
    pub mod result {
        pub const INITIAL: u8 = 0;
        pub const SUCCESS: u8 = 1;
        pub const NO_STORAGE: u8 = 2;
        pub const CONNECTION_LOST: u8 = 4;
        pub const INTEGRITY: u8 = 5;
        pub const UNSUPPORTED_PACKAGE: u8 = 6;
        pub const INVALID_URI: u8 = 7;
        pub const FAILED: u8 = 8;
        pub const UNSUPPORTED_PROTOCOL: u8 = 9;
    }
}

/// The IoT platform's answer to an uplink (`AAAA0000`, protocols.md §4.4).
pub const REPLY: [u8; 4] = [0xAA, 0xAA, 0x00, 0x00];

/// Upper-case hex, as the module prints data (`+NMGR: 4,AAAA0000`, seed 002 §4.1.2).
pub fn hex(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02X}")).collect()
}

/// Bytes from hex digits of either case; `None` for an odd count or any other character.
pub fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_both_ways_and_nothing_else() {
        assert_eq!(hex(&REPLY), "AAAA0000");
        assert_eq!(decode_hex("aaAA0000"), Some(REPLY.to_vec()));
        assert_eq!(
            decode_hex("00454c4C4f"),
            Some(vec![0, 0x45, 0x4c, 0x4c, 0x4f])
        );
        assert_eq!(decode_hex(""), Some(vec![]));
        for bad in ["abc", "zz", "+1", "é0", " 1"] {
            assert_eq!(decode_hex(bad), None, "{bad:?}");
        }
    }
}
