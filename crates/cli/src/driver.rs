//! The real-time driver of a module: the module on the network through `nbmodem_net::udp` (the
//! one real-time loop of the project: a UDP socket per service port, on loopback, through
//! [`ModuleNode`]'s routes), and its AT port served beside it.
//!
//! Both share the module. The network loop steps it on datagrams and timers and tells the AT
//! front-end after each step; the front-end writes what the module wrote to the host, and hands
//! the module what the host types.
//!
//! Back-pressure, not loss: the host's input is typed in a line at a time, and the module's
//! output is written to the host whenever it reaches [`FLUSH_AT`] bytes, so that a host that
//! sends faster than it reads gets every answer (the module's own bound, `MAX_OUTPUT`, is for a
//! host that reads nothing at all). At most [`MAX_HELD`] bytes of input wait to be typed in;
//! beyond that the front-end stops reading, and the host's writes wait. Input is held the same
//! way while the module boots (or reboots on a command), so that a script piping commands into a
//! freshly started module is answered. A host that disconnects with input not yet typed in loses
//! it, and the console says so: a new connection's commands are not mixed with the old one's.
//! A host that is slow to read holds up only the front-end: the module's timers keep running.
//!
//! With a trace or a capture, what the module's taps saw is handed to the writer thread
//! ([`CaptureThread`]) after each step, beside its output.

use crate::capture::CaptureThread;
use crate::console::Terminal;
use crate::port::{Port, Reader, Writer};
use anyhow::Result;
use nbmodem_clock::{Clock, RealClock};
use nbmodem_module::node::ModuleNode;
use nbmodem_module::Module;
use nbmodem_net::udp::{self, lock, Ports};
use std::future::{pending, Future};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Notify;

/// The most input read from the host and not yet typed in; the host's writes wait beyond it.
pub const MAX_HELD: usize = 64 * 1024;

/// Output the module may gather before it is written to the host and typing in stops meanwhile:
/// half its bound, so that no answer to the line just typed can overflow it.
const FLUSH_AT: usize = nbmodem_module::MAX_OUTPUT / 2;

/// The connected host: its input ends before its output does when stdin reaches end of file.
struct Host {
    reader: Option<Reader>,
    writer: Writer,
}

/// Powers the module on and runs it until `shutdown` completes, or, on a port that ends with its
/// connection (stdio), until the host has closed its input and everything it sent is answered.
/// The module is shared (the sandbox's control port sets its coverage). Its notices go to
/// `terminal`'s console. With `capture`, the module (tapped: [`Module::set_tap`]) is traced or
/// captured until then.
pub async fn run(
    node: Arc<Mutex<ModuleNode>>,
    port: Port,
    terminal: Arc<Terminal>,
    capture: Option<CaptureThread>,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    lock(&node).module_mut().power_on(RealClock.now());
    let wake = Arc::new(Notify::new());
    let stepped = Arc::new(Notify::new());
    let network = udp::run_host(
        Arc::clone(&node),
        Ports::OnDemand(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        Arc::clone(&wake),
        Some(Arc::clone(&stepped)),
        pending(),
    );
    let front_end = FrontEnd {
        terminal: Arc::clone(&terminal),
        node: Arc::clone(&node),
        wake,
        stepped,
        port,
        host: None,
        input: Vec::new(),
        capture: capture.as_ref(),
    };
    let outcome = tokio::select! {
        result = network => result.map_err(anyhow::Error::from),
        result = front_end.run() => result,
        () = shutdown => Ok(()),
    };
    let mut node = lock(&node);
    node.module_mut().notice_energy(RealClock.now());
    print_notices(node.module_mut(), &terminal);
    if let Some(capture) = capture {
        capture.send(node.module_mut().take_tapped());
        capture.finish()?;
    }
    outcome
}

/// The AT port beside the running module.
struct FrontEnd<'a> {
    terminal: Arc<Terminal>,
    node: Arc<Mutex<ModuleNode>>,
    wake: Arc<Notify>,
    stepped: Arc<Notify>,
    port: Port,
    host: Option<Host>,
    /// Input read from the host and not yet typed in.
    input: Vec<u8>,
    capture: Option<&'a CaptureThread>,
}

impl FrontEnd<'_> {
    async fn run(mut self) -> Result<()> {
        let mut buf = vec![0u8; 8192];
        loop {
            self.write_output().await;
            if !self.input.is_empty() && self.with_module(|m| m.is_ready()) {
                self.type_in();
                // Lets the network loop, which shares this task, act on what was typed.
                tokio::task::yield_now().await;
                continue;
            }
            let input_closed = self.host.as_ref().is_some_and(|h| h.reader.is_none());
            if input_closed && self.input.is_empty() && self.port.ends_with_connection() {
                return Ok(());
            }
            let room = self.input.len() < MAX_HELD;
            tokio::select! {
                accepted = self.port.accept(), if self.host.is_none() => {
                    let (reader, writer) = accepted?;
                    self.host = Some(Host { reader: Some(reader), writer });
                }
                read = read_host(&mut self.host, &mut buf), if room => match read {
                    Ok(n) if n > 0 => self.input.extend_from_slice(&buf[..n]),
                    _ if self.port.ends_with_connection() => {
                        if let Some(h) = self.host.as_mut() {
                            h.reader = None;
                        }
                    }
                    _ => self.disconnected(),
                },
                () = self.stepped.notified() => {}
            }
        }
    }

    fn with_module<R>(&self, f: impl FnOnce(&mut Module) -> R) -> R {
        f(lock(&self.node).module_mut())
    }

    /// Types the waiting input in, a line at a time, until it is all typed, the module's output
    /// is due to be written, or a command rebooted the module; then lets the network loop act on
    /// what it did.
    fn type_in(&mut self) {
        let typed = self.with_module(|m| {
            let mut typed = 0;
            while typed < self.input.len() && m.is_ready() && m.output_len() < FLUSH_AT {
                let rest = &self.input[typed..];
                let line = rest
                    .iter()
                    .position(|&b| b == b'\r' || b == b'\n')
                    .map_or(rest.len(), |end| end + 1);
                m.receive(&rest[..line], RealClock.now());
                typed += line;
            }
            typed
        });
        self.input.drain(..typed);
        self.wake.notify_one();
    }

    /// The host went away: what it sent and was not typed in yet is lost, and said so.
    fn disconnected(&mut self) {
        self.host = None;
        if !self.input.is_empty() {
            self.terminal.line(&format!(
                "AT port: {} bytes the host sent were not typed in: it disconnected",
                self.input.len()
            ));
            self.input.clear();
        }
    }

    /// Writes what the module wrote to the host (with no host connected it is lost, as on a
    /// UART), then its notices to the console (a command's notices come after its echo), and
    /// what its taps saw to the trace and capture.
    async fn write_output(&mut self) {
        let (out, notices, tapped) =
            self.with_module(|m| (m.take_output(), m.take_notices(), m.take_tapped()));
        if let Some(capture) = self.capture {
            capture.send(tapped);
        }
        if let Some(h) = self.host.as_mut().filter(|_| !out.is_empty()) {
            let written = async {
                h.writer.write_all(&out).await?;
                h.writer.flush().await
            };
            if written.await.is_err() {
                self.disconnected();
            }
        }
        for notice in notices {
            self.terminal.line(&notice.to_string());
        }
    }
}

/// What the module's protocol engines did, a line each on the console, beside the AT port.
fn print_notices(module: &mut Module, terminal: &Terminal) {
    for notice in module.take_notices() {
        terminal.line(&notice.to_string());
    }
}

async fn read_host(host: &mut Option<Host>, buf: &mut [u8]) -> std::io::Result<usize> {
    match host.as_mut().and_then(|h| h.reader.as_mut()) {
        Some(reader) => reader.read(buf).await,
        None => pending().await,
    }
}
