//! The simulated radio: functionality level, network registration, the RRC connection and the
//! address the network assigns.
//!
//! Registration is a small state machine driven by the module's timers: after boot (or AT+CFUN=1,
//! AT+CGATT=1) the module searches, and [`NetworkConfig::attach_delay`] later it is registered with
//! an address and an RRC connection, which the network releases after
//! [`NetworkConfig::inactivity`] without traffic.

use std::net::Ipv4Addr;
use std::time::Duration;

/// The simulated cell and network, as a user may configure them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkConfig {
    /// Whether there is any coverage; without it the module searches for ever.
    pub coverage: bool,
    /// From the start of a search to registration.
    pub attach_delay: Duration,
    /// RSSI as AT+CSQ reports it (0–31).
    pub rssi: u8,
    /// RRC inactivity timer: how long an idle connection stays up.
    pub inactivity: Duration,
    pub tac: u16,
    pub cell_id: u32,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            coverage: true,
            attach_delay: Duration::from_secs(2),
            rssi: 25,
            inactivity: Duration::from_secs(20),
            tac: 0x5A3C,
            cell_id: 0x0A1B_2C3D,
        }
    }
}

/// EPS registration status as AT+CEREG reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegStatus {
    NotSearching = 0,
    Home = 1,
    Searching = 2,
}

/// The radio's state; it is lost at power-off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Radio {
    pub functional: bool,
    pub status: RegStatus,
    pub rrc_connected: bool,
    /// In deep sleep (PSM): registered, but unreachable until it wakes (see [`crate::sleep`]).
    pub deep_sleep: bool,
}

impl Radio {
    pub fn new() -> Self {
        Radio {
            functional: true,
            status: RegStatus::NotSearching,
            rrc_connected: false,
            deep_sleep: false,
        }
    }

    pub fn registered(&self) -> bool {
        self.status == RegStatus::Home
    }
}

impl Default for Radio {
    fn default() -> Self {
        Self::new()
    }
}

/// The address the network gives a SIM: stable for an IMSI, in 10.0.0.0/8.
pub fn address_for(imsi: &str) -> Ipv4Addr {
    let hash = imsi
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    let [_, b, c, d] = hash.to_be_bytes();
    Ipv4Addr::new(10, b, c, d.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_is_stable_and_private() {
        let a = address_for("460110000000001");
        assert_eq!(a, address_for("460110000000001"));
        assert_ne!(a, address_for("460110000000002"));
        assert_eq!(a.octets()[0], 10);
    }
}
