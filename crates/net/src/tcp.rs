//! The real-time side of a host's TCP streams: each [`StreamRequest::Connect`] becomes a tokio
//! `TcpStream` with a task of its own, which writes what the host sends and reads what the peer
//! writes; what happens comes back to the driver loop as [`StreamEvent`]s for the local port that
//! asked. A connection that cannot be made (refused, unreachable) is [`StreamEvent::Refused`];
//! how long the host waits for either answer is the host's business (its own timer), so an
//! unanswered connect never holds up the loop.

use crate::{StreamEvent, StreamRequest};
use std::collections::HashMap;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// The largest read handed to the host at once.
const READ_CHUNK: usize = 4096;

/// An event of the stream of a local port.
pub(crate) type PortEvent = (u16, StreamEvent);

/// The open streams of a running host, by local port.
pub(crate) struct Streams {
    /// What the host writes, to each connection's task; dropping it closes the connection.
    writers: HashMap<u16, mpsc::UnboundedSender<Vec<u8>>>,
    events: mpsc::UnboundedSender<PortEvent>,
}

impl Streams {
    pub(crate) fn new(events: mpsc::UnboundedSender<PortEvent>) -> Self {
        Streams {
            writers: HashMap::new(),
            events,
        }
    }

    /// Acts on one request of the host.
    pub(crate) fn request(&mut self, request: StreamRequest) {
        match request {
            StreamRequest::Connect { port, to } => {
                let (writer, written) = mpsc::unbounded_channel();
                self.writers.insert(port, writer);
                tokio::spawn(connection(port, to, written, self.events.clone()));
            }
            StreamRequest::Send { port, bytes } => {
                if let Some(writer) = self.writers.get(&port) {
                    // A connection whose task has ended has told the host already.
                    let _ = writer.send(bytes);
                }
            }
            StreamRequest::Close { port } => {
                self.writers.remove(&port);
            }
        }
    }
}

/// One connection, from connecting to closing: writes what the host sends until it closes
/// (the writer dropped), reads until the peer closes.
async fn connection(
    port: u16,
    to: SocketAddr,
    mut written: mpsc::UnboundedReceiver<Vec<u8>>,
    events: mpsc::UnboundedSender<PortEvent>,
) {
    let tell = |event| {
        let _ = events.send((port, event));
    };
    let stream = match TcpStream::connect(to).await {
        Ok(stream) => stream,
        Err(e) => {
            tracing::debug!("TCP connection to {to} failed: {e}");
            return tell(StreamEvent::Refused);
        }
    };
    tell(StreamEvent::Connected);
    let (mut reader, mut writer) = stream.into_split();
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        tokio::select! {
            read = reader.read(&mut buf) => match read {
                Ok(n) if n > 0 => tell(StreamEvent::Data(buf[..n].to_vec())),
                _ => return tell(StreamEvent::Closed),
            },
            bytes = written.recv() => match bytes {
                Some(bytes) => {
                    if writer.write_all(&bytes).await.is_err() {
                        return tell(StreamEvent::Closed);
                    }
                }
                None => {
                    // The host closed it: nothing more is told.
                    let _ = writer.shutdown().await;
                    return;
                }
            },
        }
    }
}
