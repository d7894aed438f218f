//! The in-memory "socket" under OpenSSL: a queue of datagrams in, a queue of datagrams out.
//!
//! OpenSSL's DTLS code reads and writes whole datagrams: every `write` it makes is one datagram to
//! send, and every `read` must return at most one received datagram. The queues turn those calls
//! into plain data for the sans-IO session, and `WouldBlock` tells OpenSSL that nothing more has
//! arrived yet.

use std::collections::VecDeque;
use std::io::{self, Read, Write};

/// Datagrams between the session and OpenSSL.
#[derive(Debug, Default)]
pub(crate) struct Datagrams {
    inbound: VecDeque<Vec<u8>>,
    outbound: VecDeque<Vec<u8>>,
}

impl Datagrams {
    /// Queues a received datagram for OpenSSL to read.
    pub(crate) fn push_inbound(&mut self, datagram: &[u8]) {
        self.inbound.push_back(datagram.to_vec());
    }

    /// Drops whatever OpenSSL left unread, so that it cannot surface in a later, unrelated call.
    pub(crate) fn discard_inbound(&mut self) {
        self.inbound.clear();
    }

    /// The next datagram OpenSSL wants sent.
    pub(crate) fn pop_outbound(&mut self) -> Option<Vec<u8>> {
        self.outbound.pop_front()
    }
}

impl Read for Datagrams {
    /// One datagram per call; like a UDP socket, a datagram longer than `buf` is truncated.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let datagram = self.inbound.pop_front().ok_or(io::ErrorKind::WouldBlock)?;
        let len = datagram.len().min(buf.len());
        buf[..len].copy_from_slice(&datagram[..len]);
        Ok(len)
    }
}

impl Write for Datagrams {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.outbound.push_back(buf.to_vec());
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_one_datagram_per_call_then_would_block() {
        let mut d = Datagrams::default();
        d.push_inbound(b"first");
        d.push_inbound(b"second");
        let mut buf = [0u8; 16];
        assert_eq!(d.read(&mut buf).unwrap(), 5);
        assert_eq!(&buf[..5], b"first");
        assert_eq!(d.read(&mut buf).unwrap(), 6);
        let err = d.read(&mut buf).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    }

    #[test]
    fn truncates_a_datagram_longer_than_the_buffer() {
        let mut d = Datagrams::default();
        d.push_inbound(b"0123456789");
        let mut buf = [0u8; 4];
        assert_eq!(d.read(&mut buf).unwrap(), 4);
        assert_eq!(&buf, b"0123");
        assert!(
            d.read(&mut buf).is_err(),
            "the rest of the datagram is gone"
        );
    }

    #[test]
    fn each_write_is_one_datagram() {
        let mut d = Datagrams::default();
        d.write_all(b"a").unwrap();
        d.write_all(b"bc").unwrap();
        assert_eq!(d.pop_outbound().as_deref(), Some(&b"a"[..]));
        assert_eq!(d.pop_outbound().as_deref(), Some(&b"bc"[..]));
        assert_eq!(d.pop_outbound(), None);
    }
}
