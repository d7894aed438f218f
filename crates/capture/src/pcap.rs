//! The capture: a pcapng file of every datagram the module sent and received, as raw IP packets
//! (link type RAW) with IPv4 and UDP headers written here: the module's own address from the
//! network and the local port of its service on one side, the operator's public address and
//! port on the other — what the module believes it talks to, not the loopback the stand-ins are
//! really on. Wireshark and tshark dissect CoAP on 5683 and DTLS on 5684 by their ports, and
//! LwM2M TLV by the Content-Format, with no settings. Each packet's flags say its direction
//! (inbound or outbound); its time is the instant the module sent or took it.
//!
//! A peer with an IPv6 address (a route to `[::1]`, say) gets IPv6 packets, the module's
//! address written IPv4-mapped.

use nbmodem_module::tap::Datagram;
use pcap_file::pcapng::blocks::enhanced_packet::{EnhancedPacketBlock, EnhancedPacketOption};
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::{DataLink, PcapError};
use std::borrow::Cow;
use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// IP protocol number of UDP.
const UDP: u8 = 17;
/// Timestamps in nanoseconds (if_tsresol 9), as pcap-file writes them.
const NANOSECONDS: u8 = 9;
/// epb_flags: the packet's direction.
const INBOUND: u32 = 1;
const OUTBOUND: u32 = 2;

/// Writes a pcapng capture to `W`.
pub struct Pcap<W: Write> {
    writer: PcapNgWriter<W>,
    /// The IPv4 identification of the next packet.
    next_id: u16,
}

impl<W: Write> Pcap<W> {
    /// Writes the section header and the one interface, the module's air.
    pub fn new(out: W) -> io::Result<Self> {
        let mut writer = PcapNgWriter::new(out).map_err(io_error)?;
        let interface = InterfaceDescriptionBlock {
            linktype: DataLink::RAW,
            snaplen: 0,
            options: vec![
                InterfaceDescriptionOption::IfName(Cow::Borrowed("nbmodem")),
                InterfaceDescriptionOption::IfDescription(Cow::Borrowed(
                    "the module's datagrams, at the addresses it believes in",
                )),
                InterfaceDescriptionOption::IfTsResol(NANOSECONDS),
            ],
        };
        writer.write_pcapng_block(interface).map_err(io_error)?;
        Ok(Pcap { writer, next_id: 0 })
    }

    /// Writes `datagram` as one packet; one too large for a UDP header is left out.
    pub fn record(&mut self, datagram: &Datagram) -> io::Result<()> {
        let (source, destination) = if datagram.sent {
            (datagram.module, datagram.peer)
        } else {
            (datagram.peer, datagram.module)
        };
        self.next_id = self.next_id.wrapping_add(1);
        let Some(packet) = ip_udp(source, destination, &datagram.payload, self.next_id) else {
            return Ok(());
        };
        let block = EnhancedPacketBlock {
            interface_id: 0,
            timestamp: Duration::from_millis(datagram.at.unix_millis()),
            original_len: packet.len() as u32,
            data: Cow::Owned(packet),
            options: vec![EnhancedPacketOption::Flags(if datagram.sent {
                OUTBOUND
            } else {
                INBOUND
            })],
        };
        self.writer.write_pcapng_block(block).map_err(io_error)?;
        Ok(())
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.writer.get_mut().flush()
    }
}

fn io_error(e: PcapError) -> io::Error {
    match e {
        PcapError::IoError(e) => e,
        other => io::Error::other(other.to_string()),
    }
}

/// An IP packet carrying `payload` in a UDP datagram from `source` to `destination`: IPv4 when
/// both are IPv4, else IPv6. `None` when the payload does not fit a UDP length.
pub fn ip_udp(
    source: SocketAddr,
    destination: SocketAddr,
    payload: &[u8],
    id: u16,
) -> Option<Vec<u8>> {
    let udp_length = u16::try_from(8 + payload.len()).ok()?;
    let mut udp = Vec::with_capacity(usize::from(udp_length));
    udp.extend_from_slice(&source.port().to_be_bytes());
    udp.extend_from_slice(&destination.port().to_be_bytes());
    udp.extend_from_slice(&udp_length.to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(payload);
    let (header, pseudo) = match (source.ip(), destination.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let total = u16::try_from(20 + udp.len()).ok()?;
            let mut header = vec![0x45, 0];
            header.extend_from_slice(&total.to_be_bytes());
            header.extend_from_slice(&id.to_be_bytes());
            // Don't fragment, TTL 64, UDP, checksum filled in below.
            header.extend_from_slice(&[0x40, 0, 64, UDP, 0, 0]);
            header.extend_from_slice(&s.octets());
            header.extend_from_slice(&d.octets());
            let checksum = !ones_sum(&header);
            header[10..12].copy_from_slice(&checksum.to_be_bytes());
            let mut pseudo = [s.octets(), d.octets()].concat();
            pseudo.extend_from_slice(&[0, UDP]);
            pseudo.extend_from_slice(&udp_length.to_be_bytes());
            (header, pseudo)
        }
        (s, d) => {
            let (s, d) = (v6(s).octets(), v6(d).octets());
            let mut header = vec![0x60, 0, 0, 0];
            header.extend_from_slice(&udp_length.to_be_bytes());
            header.extend_from_slice(&[UDP, 64]);
            header.extend_from_slice(&s);
            header.extend_from_slice(&d);
            let mut pseudo = [s, d].concat();
            pseudo.extend_from_slice(&u32::from(udp_length).to_be_bytes());
            pseudo.extend_from_slice(&[0, 0, 0, UDP]);
            (header, pseudo)
        }
    };
    // RFC 768: the checksum covers the pseudo-header too; a computed 0 is sent as all ones.
    let checksum = match !ones_sum(&[pseudo, udp.clone()].concat()) {
        0 => 0xffff,
        sum => sum,
    };
    udp[6..8].copy_from_slice(&checksum.to_be_bytes());
    Some([header, udp].concat())
}

fn v6(ip: IpAddr) -> std::net::Ipv6Addr {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

/// The 16-bit ones' complement sum of RFC 1071 (an odd last byte padded with zero).
fn ones_sum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|pair| u32::from(u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv4_packet_checks_out() {
        let from: SocketAddr = "10.1.2.3:49152".parse().unwrap();
        let to: SocketAddr = "180.101.147.115:5683".parse().unwrap();
        let packet = ip_udp(from, to, b"hello", 1).unwrap();
        assert_eq!(packet.len(), 20 + 8 + 5);
        assert_eq!(&packet[12..16], &[10, 1, 2, 3]);
        assert_eq!(&packet[16..20], &[180, 101, 147, 115]);
        assert_eq!(ones_sum(&packet[..20]), 0xffff, "header checksum");
        assert_eq!(&packet[20..22], &49152u16.to_be_bytes());
        assert_eq!(&packet[22..24], &5683u16.to_be_bytes());
        let mut pseudo = vec![10, 1, 2, 3, 180, 101, 147, 115, 0, 17, 0, 13];
        pseudo.extend_from_slice(&packet[20..]);
        assert_eq!(ones_sum(&pseudo), 0xffff, "UDP checksum");
    }

    #[test]
    fn an_ipv6_peer_gets_an_ipv6_packet() {
        let from: SocketAddr = "10.1.2.3:49152".parse().unwrap();
        let to: SocketAddr = "[::1]:5683".parse().unwrap();
        let packet = ip_udp(from, to, b"x", 1).unwrap();
        assert_eq!(packet[0] >> 4, 6);
        assert_eq!(packet.len(), 40 + 8 + 1);
    }

    #[test]
    fn a_payload_too_large_for_udp_is_left_out() {
        let from: SocketAddr = "10.1.2.3:1".parse().unwrap();
        assert_eq!(ip_udp(from, from, &vec![0; 65_530], 1), None);
    }
}
