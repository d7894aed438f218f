//! A small blocking client of the API, for `nbmodem platform iot|aep …` and the tests: one request
//! per connection, HTTP/1.1 with `Connection: close` over a `std::net::TcpStream`, a JSON body in
//! and out. The API is on loopback and answers every request with a JSON body of known length, so
//! this is all a client needs (no TLS, no keep-alive, no chunked bodies); it is written here
//! rather than taken from an HTTP client crate.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// How long a request may take.
const TIMEOUT: Duration = Duration::from_secs(15);
/// The longest answer read: a page of 1000 uplinks of 1 KiB is 2 MB of hex.
const MAX_ANSWER: u64 = 16 * 1024 * 1024;
const JSON: &str = "application/json";

/// An answer: its status and its JSON body (`null` when it had none).
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub status: u16,
    pub body: serde_json::Value,
}

impl Answer {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// A client of the API at `address`, presenting `token` (none: to see it refused).
#[derive(Debug, Clone)]
pub struct Client {
    pub address: SocketAddr,
    pub token: Option<String>,
}

impl Client {
    pub fn new(address: SocketAddr, token: Option<String>) -> Self {
        Client { address, token }
    }

    pub fn get(&self, path: &str) -> io::Result<Answer> {
        self.send("GET", path, None)
    }

    /// Sends `body` as JSON.
    pub fn post(&self, path: &str, body: &serde_json::Value) -> io::Result<Answer> {
        self.send("POST", path, Some(body.to_string().as_bytes()))
    }

    pub fn delete(&self, path: &str) -> io::Result<Answer> {
        self.send("DELETE", path, None)
    }

    /// Sends a request whose body (`Content-Type: application/json`) is `body` as it is.
    pub fn send(&self, method: &str, path: &str, body: Option<&[u8]>) -> io::Result<Answer> {
        self.send_as(method, path, body.map(|b| (JSON, b)))
    }

    /// Sends a request whose body is `(media type, bytes)`: a signed zip, for one.
    pub fn send_as(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, &[u8])>,
    ) -> io::Result<Answer> {
        let mut stream = TcpStream::connect_timeout(&self.address, TIMEOUT)?;
        stream.set_read_timeout(Some(TIMEOUT))?;
        stream.set_write_timeout(Some(TIMEOUT))?;
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nAccept: application/json\r\n",
            self.address
        );
        if let Some(token) = &self.token {
            head.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        if let Some((media, body)) = body {
            head.push_str(&format!("Content-Type: {media}\r\n"));
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes())?;
        // A server may answer (413) and close before it has read a body too large: the answer
        // is what matters, not the rest of the body.
        if let Err(e) = stream.write_all(body.map_or(&[][..], |(_, b)| b)) {
            if e.kind() != io::ErrorKind::BrokenPipe && e.kind() != io::ErrorKind::ConnectionReset {
                return Err(e);
            }
        }
        let mut answer = Vec::new();
        stream.take(MAX_ANSWER).read_to_end(&mut answer)?;
        parse(&answer)
    }
}

fn invalid(why: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.into())
}

/// The status and JSON body of an HTTP/1.1 answer read to its end.
fn parse(answer: &[u8]) -> io::Result<Answer> {
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| invalid("the answer has no end of headers"))?;
    let head = String::from_utf8_lossy(&answer[..split]);
    let mut body = &answer[split + 4..];
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| invalid("the answer has no status line"))?;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
        if name == "transfer-encoding" {
            return Err(invalid(format!("unexpected transfer encoding {value}")));
        }
        if name == "content-length" {
            let length: usize = value.parse().map_err(|_| invalid("bad Content-Length"))?;
            body = body
                .get(..length)
                .ok_or_else(|| invalid("the answer is cut short"))?;
        }
    }
    let body = match body.is_empty() {
        true => serde_json::Value::Null,
        false => serde_json::from_slice(body).map_err(|e| invalid(e.to_string()))?,
    };
    Ok(Answer { status, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_parse() {
        let answer = b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: 15\r\n\r\n{\"error\":\"no\"}\n";
        let parsed = parse(answer).unwrap();
        assert_eq!(parsed.status, 404);
        assert_eq!(parsed.body, serde_json::json!({"error": "no"}));
        assert!(parse(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n{}").is_err());
        assert!(parse(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\n{}").is_err());
        assert!(parse(b"garbage").is_err());
        assert_eq!(
            parse(b"HTTP/1.1 204 No Content\r\n\r\n").unwrap().body,
            serde_json::Value::Null
        );
    }
}
