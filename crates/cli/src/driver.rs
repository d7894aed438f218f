//! The real-time driver: runs a module on the system clock and connects it to its AT port and to
//! the network (one UDP socket on loopback, through [`ModuleNode`]'s routes).
//!
//! One task does everything: it writes what the module wrote and sends its datagrams, then waits
//! for whichever comes first of input from the host, a new host, a datagram, the module's next
//! timer, or shutdown. Bytes a host sends
//! before the module has booted are held and delivered once it has, so that a script piping
//! commands into a freshly started module is not answered with silence.

use crate::port::{Port, Reader, Writer};
use anyhow::Result;
use nbmodem_clock::{Clock, RealClock};
use nbmodem_module::node::ModuleNode;
use nbmodem_module::Module;
use nbmodem_net::DatagramNode;
use std::future::{pending, Future};
use std::io::Write;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UdpSocket;

/// The connected host: its input ends before its output does when stdin reaches end of file.
struct Host {
    reader: Option<Reader>,
    writer: Writer,
}

/// Powers `module` on and runs it until `shutdown` completes, or, on a port that ends with its
/// connection (stdio), until the host has closed its input and everything it sent is answered.
pub async fn run(module: Module, mut port: Port, shutdown: impl Future<Output = ()>) -> Result<()> {
    let clock = RealClock;
    let socket = UdpSocket::bind("127.0.0.1:0").await?;
    let mut node = ModuleNode::new(module);
    node.module_mut().power_on(clock.now());
    let mut host: Option<Host> = None;
    let mut held = Vec::new();
    let mut buf = vec![0u8; 8192];
    let mut datagram = vec![0u8; 65_535];
    tokio::pin!(shutdown);
    loop {
        send_datagrams(&mut node, &socket).await;
        let module = node.module_mut();
        write_output(module, &mut host).await;
        print_notices(module);
        if module.is_ready() && !held.is_empty() {
            module.receive(&std::mem::take(&mut held), clock.now());
            continue;
        }
        let input_closed = host.as_ref().is_some_and(|h| h.reader.is_none());
        if input_closed && held.is_empty() && port.ends_with_connection() {
            break;
        }
        let wake = node.poll_timeout().map(|t| t.saturating_since(clock.now()));
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = port.accept(), if host.is_none() => {
                let (reader, writer) = accepted?;
                host = Some(Host { reader: Some(reader), writer });
            }
            read = read_host(&mut host, &mut buf) => match read {
                Ok(n) if n > 0 && node.module().is_ready() => node.module_mut().receive(&buf[..n], clock.now()),
                Ok(n) if n > 0 => held.extend_from_slice(&buf[..n]),
                _ if port.ends_with_connection() => {
                    if let Some(h) = host.as_mut() {
                        h.reader = None;
                    }
                }
                _ => host = None,
            },
            received = socket.recv_from(&mut datagram) => match received {
                Ok((len, from)) => node.handle_datagram(clock.now(), from, &datagram[..len]),
                Err(e) => tracing::debug!("receive error: {e}"),
            },
            _ = sleep(wake) => node.handle_timeout(clock.now()),
        }
    }
    write_output(node.module_mut(), &mut host).await;
    Ok(())
}

/// What the module's protocol engines did, a line each on standard error, beside the AT port.
fn print_notices(module: &mut Module) {
    let mut console = std::io::stderr().lock();
    for notice in module.take_notices() {
        // A console that went away is no reason to stop the module.
        let _ = writeln!(console, "{notice}");
    }
}

/// Sends the module's datagrams where its routes say.
async fn send_datagrams(node: &mut ModuleNode, socket: &UdpSocket) {
    print_notices(node.module_mut());
    while let Some(t) = node.poll_transmit() {
        // Told before the platform, answering on its own thread, prints what it did with it.
        print_notices(node.module_mut());
        if let Err(e) = socket.send_to(&t.payload, t.destination).await {
            tracing::debug!("datagram to {} not sent: {e}", t.destination);
        }
    }
}

/// Writes what the module wrote to the host; with no host connected it is lost, as on a UART.
async fn write_output(module: &mut Module, host: &mut Option<Host>) {
    let out = module.take_output();
    if out.is_empty() {
        return;
    }
    if let Some(h) = host.as_mut() {
        let written = async {
            h.writer.write_all(&out).await?;
            h.writer.flush().await
        };
        if written.await.is_err() {
            *host = None;
        }
    }
}

async fn read_host(host: &mut Option<Host>, buf: &mut [u8]) -> std::io::Result<usize> {
    match host.as_mut().and_then(|h| h.reader.as_mut()) {
        Some(reader) => reader.read(buf).await,
        None => pending().await,
    }
}

async fn sleep(wake: Option<std::time::Duration>) {
    match wake {
        Some(d) => tokio::time::sleep(d).await,
        None => pending().await,
    }
}
