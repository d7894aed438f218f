//! A node served on its own OS thread: a current-thread tokio runtime running `udp::run` on a UDP
//! socket bound to 127.0.0.1, so that the node gets one core at most. The node is built on that
//! thread, so its heap is counted there (see `alloc`).

use crate::sys;
use anyhow::{anyhow, Context, Result};
use nbmodem_net::{udp, DatagramNode};
use std::net::SocketAddr;
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use tokio::net::UdpSocket;
use tokio::sync::{oneshot, Notify};

pub struct Served<N> {
    node: Arc<Mutex<N>>,
    pub address: SocketAddr,
    /// The kernel's id of the server thread, for its CPU time.
    pub tid: u32,
    wake: Arc<Notify>,
    stop: oneshot::Sender<()>,
    thread: JoinHandle<Result<()>>,
}

struct Ready<N> {
    node: Arc<Mutex<N>>,
    address: SocketAddr,
    tid: u32,
    wake: Arc<Notify>,
}

/// Starts the node `make` builds and waits until its socket is bound.
pub fn serve<N, F>(make: F) -> Result<Served<N>>
where
    N: DatagramNode + Send + 'static,
    F: FnOnce() -> N + Send + 'static,
{
    let (ready_tx, ready_rx) = mpsc::sync_channel(1);
    let (stop, stopped) = oneshot::channel();
    let thread = std::thread::Builder::new()
        .name("server".into())
        .spawn(move || run(make, ready_tx, stopped))?;
    let Ok(ready) = ready_rx.recv() else {
        // The thread ended before it was ready: its result says why.
        return match thread.join() {
            Ok(result) => result.and(Err(anyhow!("the server thread ended early"))),
            Err(_) => Err(anyhow!("the server thread panicked")),
        };
    };
    Ok(Served {
        node: ready.node,
        address: ready.address,
        tid: ready.tid,
        wake: ready.wake,
        stop,
        thread,
    })
}

fn run<N: DatagramNode, F: FnOnce() -> N>(
    make: F,
    ready: mpsc::SyncSender<Ready<N>>,
    stopped: oneshot::Receiver<()>,
) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let socket = UdpSocket::bind("127.0.0.1:0").await?;
        let node = Arc::new(Mutex::new(make()));
        let wake = Arc::new(Notify::new());
        let _ = ready.send(Ready {
            node: node.clone(),
            address: socket.local_addr()?,
            tid: sys::thread_id()?,
            wake: wake.clone(),
        });
        let shutdown = async {
            let _ = stopped.await;
        };
        udp::run(node, socket, wake, shutdown).await?;
        Ok(())
    })
}

impl<N> Served<N> {
    /// The node, locked; keep the lock short, the server waits for it.
    pub fn node(&self) -> MutexGuard<'_, N> {
        udp::lock(&self.node)
    }

    /// What wakes the driver, for the node to keep (a writer that wakes it when records are
    /// durable).
    pub fn wake_handle(&self) -> Arc<Notify> {
        Arc::clone(&self.wake)
    }

    /// Tells the driver to look at the node again (after acting on it).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub fn stop(self) -> Result<()> {
        let _ = self.stop.send(());
        self.thread
            .join()
            .map_err(|_| anyhow!("the server thread panicked"))?
            .context("the server thread failed")
    }
}
