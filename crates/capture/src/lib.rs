//! A trace and a capture of what a module did, written from what its taps saw
//! ([`nbmodem_module::tap`]): the same events in real time (`nbmodem modem`, `nbmodem sandbox`)
//! and in virtual time (`nbmodem scenario`).
//!
//! - [`trace`]: JSON lines, one per UART line, protocol event and datagram, each datagram's CoAP
//!   decoded and named by the LwM2M operation it carries.
//! - [`pcap`]: a pcapng capture of the datagrams, with IPv4/UDP headers carrying the addresses
//!   the module believes in, for Wireshark and tshark.
//!
//! A [`Recorder`] writes either or both. It writes files, so drivers keep it out of the engines'
//! calls: the real-time driver hands it the events on a thread of its own, the scenario runner
//! between steps.

pub mod pcap;
pub mod trace;

use nbmodem_module::tap::Tapped;
use std::fs::File;
use std::io::{self, BufWriter};
use std::path::Path;

/// Writes the trace and the capture a run asked for.
pub struct Recorder {
    trace: Option<trace::Trace<BufWriter<File>>>,
    pcap: Option<pcap::Pcap<BufWriter<File>>>,
}

impl Recorder {
    /// Creates (or truncates) the trace file and the capture file that are given.
    pub fn create(trace: Option<&Path>, pcap: Option<&Path>) -> io::Result<Recorder> {
        let open = |path: &Path| {
            File::create(path)
                .map(BufWriter::new)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
        };
        Ok(Recorder {
            trace: trace.map(open).transpose()?.map(trace::Trace::new),
            pcap: pcap
                .map(open)
                .transpose()?
                .map(pcap::Pcap::new)
                .transpose()?,
        })
    }

    /// Whether anything is recorded (neither file was asked for otherwise).
    pub fn is_recording(&self) -> bool {
        self.trace.is_some() || self.pcap.is_some()
    }

    /// Writes `events`, in the order they happened.
    pub fn record(&mut self, events: &[Tapped]) -> io::Result<()> {
        for event in events {
            if let Some(trace) = self.trace.as_mut() {
                trace.record(event)?;
            }
            if let (Some(pcap), Tapped::Datagram(datagram)) = (self.pcap.as_mut(), event) {
                pcap.record(datagram)?;
            }
        }
        Ok(())
    }

    /// Writes out what is buffered.
    pub fn flush(&mut self) -> io::Result<()> {
        if let Some(trace) = self.trace.as_mut() {
            trace.flush()?;
        }
        if let Some(pcap) = self.pcap.as_mut() {
            pcap.flush()?;
        }
        Ok(())
    }
}
