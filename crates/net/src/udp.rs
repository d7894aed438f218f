//! The real-time driver: a node on a tokio UDP socket and the system clock.
//!
//! The node is shared (`Arc<Mutex<N>>`) so that the application can act on it — send a request,
//! answer one — from elsewhere; after doing so it calls `wake.notify_one()` so that the driver
//! sends what the node now has to send and re-reads its timer.

use crate::DatagramNode;
use nbmodem_clock::{Clock, RealClock};
use std::future::Future;
use std::sync::{Arc, Mutex};
use tokio::net::UdpSocket;
use tokio::sync::Notify;

/// The largest datagram accepted.
const MAX_DATAGRAM: usize = 65_535;

/// Runs `node` on `socket` until `shutdown` completes.
pub async fn run<N: DatagramNode>(
    node: Arc<Mutex<N>>,
    socket: UdpSocket,
    wake: Arc<Notify>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let clock = RealClock;
    let mut buf = vec![0u8; MAX_DATAGRAM];
    tokio::pin!(shutdown);
    loop {
        // Take what the node wants to send while holding the lock, send it after releasing it.
        let (outgoing, wait) = {
            let mut n = lock(&node);
            let outgoing: Vec<_> = std::iter::from_fn(|| n.poll_transmit()).collect();
            (outgoing, n.poll_timeout())
        };
        for t in outgoing {
            if let Err(e) = socket.send_to(&t.payload, t.destination).await {
                tracing::debug!("datagram to {} not sent: {e}", t.destination);
            }
        }
        let wait = wait.map(|t| t.saturating_since(clock.now()));
        tokio::select! {
            _ = &mut shutdown => return Ok(()),
            received = socket.recv_from(&mut buf) => match received {
                Ok((len, from)) => lock(&node).handle_datagram(clock.now(), from, &buf[..len]),
                // ICMP errors (port unreachable) surface here on Linux; they are not fatal.
                Err(e) => tracing::debug!("receive error: {e}"),
            },
            _ = sleep(wait) => lock(&node).handle_timeout(clock.now()),
            _ = wake.notified() => {}
        }
    }
}

/// Locks a node; a panic elsewhere while holding it leaves it as it was, so we carry on.
pub fn lock<N>(node: &Mutex<N>) -> std::sync::MutexGuard<'_, N> {
    node.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn sleep(wait: Option<std::time::Duration>) {
    match wait {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}
