//! One request a `nbmodem platform iot|aep …` subcommand makes of the API (its method, its path
//! with each segment a user typed percent-encoded, its body), and how its answer is printed.

use serde_json::Value;

/// One request to the API, and where the answer's list is, if it is one.
pub(super) struct Call {
    pub method: &'static str,
    pub path: String,
    /// The body's media type and bytes.
    pub body: Option<(&'static str, Vec<u8>)>,
    pub list: Option<&'static str>,
    /// The answer as text for a person, printed instead of JSON when standard output is a
    /// terminal.
    pub text: Option<fn(&Value) -> String>,
}

impl Call {
    pub fn get(path: String, list: Option<&'static str>) -> Call {
        Call {
            method: "GET",
            path,
            body: None,
            list,
            text: None,
        }
    }

    /// A POST of `body` as JSON.
    pub fn post(path: String, body: Value) -> Call {
        Call {
            method: "POST",
            path,
            body: Some(("application/json", body.to_string().into_bytes())),
            list: None,
            text: None,
        }
    }
}

/// A path segment as typed, with every byte but letters, digits and `-._~` percent-encoded.
pub(super) fn segment(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(segment("865975030000001"), "865975030000001");
        assert_eq!(segment("a b/c?"), "a%20b%2Fc%3F");
    }
}
