//! The control port's TCP server: who may talk to it and for how long.
//!
//! A connection first sends `token <the data directory's control.token>`, within
//! [`TOKEN_TIMEOUT`]; then one command per line (see [`crate::control`]) until it closes or stays
//! silent for [`CONTROL_IDLE`]. At most [`MAX_ADMITTED`] connections are admitted at once. Of the
//! connections still to present the token at most [`MAX_UNADMITTED`] are kept: a new one pushes
//! out the oldest, so that someone without the token who opens connections without end never
//! keeps the operator out (nor runs the process out of file descriptors).

use crate::control::{self, ControlToken, FaultTargets, MAX_LINE, TOKEN_FILE, TOKEN_REFUSED};
use nbmodem_net::udp::lock;
use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore};

/// The most control connections admitted (with the token) at once; more are refused.
const MAX_ADMITTED: usize = 16;
/// The most control connections waiting to present the token.
const MAX_UNADMITTED: usize = 64;
/// How long a new control connection has to present the token.
const TOKEN_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an admitted control connection may stay silent before it is closed.
const CONTROL_IDLE: Duration = Duration::from_secs(300);

/// Serves the control port until the future is dropped: each connection in its own task.
pub(crate) async fn serve<T>(listener: TcpListener, token: ControlToken, targets: T)
where
    T: FaultTargets + Clone + Send + 'static,
{
    let token = Arc::new(token);
    let admitted = Arc::new(Semaphore::new(MAX_ADMITTED));
    let unadmitted = Unadmitted::default();
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let session = Session {
                    targets: targets.clone(),
                    token: Arc::clone(&token),
                    admitted: Arc::clone(&admitted),
                    waiting: unadmitted.enter(),
                };
                tokio::spawn(async move {
                    if let Err(e) = session.run(stream).await {
                        tracing::debug!("control connection ended: {e}");
                    }
                });
            }
            Err(e) => {
                // Out of file descriptors, typically: the pushed-out connections close meanwhile.
                tracing::warn!("control port: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Control connections that have not presented the token yet.
#[derive(Clone, Default)]
struct Unadmitted(Arc<Mutex<Queue>>);

/// The connections waiting, oldest first, each with its id and what tells it that it was pushed
/// out; and the last id given.
#[derive(Default)]
struct Queue {
    last_id: u64,
    waiting: VecDeque<(u64, Arc<Notify>)>,
}

/// A connection's place among the [`Unadmitted`]; it leaves when dropped.
struct Waiting {
    id: u64,
    pushed_out: Arc<Notify>,
    all: Unadmitted,
}

impl Unadmitted {
    /// A new connection's place; the oldest is pushed out when there are too many.
    fn enter(&self) -> Waiting {
        let mut queue = lock(&self.0);
        queue.last_id += 1;
        if queue.waiting.len() == MAX_UNADMITTED {
            if let Some((_, oldest)) = queue.waiting.pop_front() {
                oldest.notify_one();
            }
        }
        let pushed_out = Arc::new(Notify::new());
        let id = queue.last_id;
        queue.waiting.push_back((id, Arc::clone(&pushed_out)));
        Waiting {
            id,
            pushed_out,
            all: self.clone(),
        }
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        lock(&self.all.0).waiting.retain(|(id, _)| *id != self.id);
    }
}

/// One control connection.
struct Session<T> {
    targets: T,
    token: Arc<ControlToken>,
    admitted: Arc<Semaphore>,
    waiting: Waiting,
}

/// How waiting for the token line ended.
enum Wait {
    Received,
    Closed,
    PushedOut,
    TimedOut,
}

impl<T: FaultTargets> Session<T> {
    /// Admits the connection when it presents the token in time (and there is room), then
    /// answers its command lines until it closes, stays silent too long or sends too long a line.
    async fn run(mut self, stream: TcpStream) -> io::Result<()> {
        let (mut reader, mut writer) = stream.into_split();
        let mut received = Vec::new();
        let pushed_out = Arc::clone(&self.waiting.pushed_out);
        let wait = tokio::select! {
            biased;
            read = tokio::time::timeout(TOKEN_TIMEOUT, receive_line(&mut reader, &mut received)) => {
                match read {
                    Ok(Ok(true)) => Wait::Received,
                    Ok(Ok(false)) => Wait::Closed,
                    Ok(Err(e)) => return Err(e),
                    Err(_) => Wait::TimedOut,
                }
            }
            () = pushed_out.notified() => Wait::PushedOut,
        };
        drop(self.waiting);
        // A connection pushed out before its task first read still gets its token line taken,
        // if it has arrived: the operator's client sends it as soon as it is connected.
        let wait = match wait {
            Wait::PushedOut if take_received(&reader, &mut received) => Wait::Received,
            other => other,
        };
        let refusal = match wait {
            Wait::Received => None,
            Wait::Closed => return Ok(()),
            Wait::PushedOut => Some(crate::control::PUSHED_OUT.to_string()),
            Wait::TimedOut => Some("ERROR idle for too long".to_string()),
        };
        let first = split_line(&mut received);
        let refusal = refusal.or_else(|| {
            let presented = first.as_deref().is_some_and(|l| self.token.accepts_line(l));
            (!presented)
                .then(|| format!("{TOKEN_REFUSED} token <the data directory's {TOKEN_FILE}>"))
        });
        if let Some(refusal) = refusal {
            return writer.write_all(format!("{refusal}\n").as_bytes()).await;
        }
        let Ok(_slot) = self.admitted.try_acquire() else {
            return writer
                .write_all(b"ERROR too many control connections\n")
                .await;
        };
        writer.write_all(b"OK\n").await?;
        let mut commands = BufReader::new(io::Cursor::new(received).chain(reader));
        while let Some(line) = read_line(&mut commands, &mut writer).await? {
            let answer = control::answer(&line, &mut self.targets);
            writer.write_all(format!("{answer}\n").as_bytes()).await?;
        }
        Ok(())
    }
}

/// Reads into `received` until it holds a whole line (or [`MAX_LINE`] bytes); false when the
/// connection closed first.
async fn receive_line(reader: &mut OwnedReadHalf, received: &mut Vec<u8>) -> io::Result<bool> {
    let mut chunk = [0u8; 256];
    while !holds_line(received) {
        let read = reader.read(&mut chunk).await?;
        if read == 0 {
            return Ok(false);
        }
        received.extend_from_slice(&chunk[..read]);
    }
    Ok(true)
}

/// Takes what has arrived without waiting; whether `received` now holds a whole line.
fn take_received(reader: &OwnedReadHalf, received: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 256];
    while !holds_line(received) {
        match reader.try_read(&mut chunk) {
            Ok(read) if read > 0 => received.extend_from_slice(&chunk[..read]),
            _ => break,
        }
    }
    holds_line(received)
}

fn holds_line(received: &[u8]) -> bool {
    received.contains(&b'\n') || received.len() >= MAX_LINE
}

/// The first line of `received` (trimmed), taken out of it; `None` when it passes [`MAX_LINE`].
fn split_line(received: &mut Vec<u8>) -> Option<Vec<u8>> {
    let end = received.iter().position(|b| *b == b'\n')?;
    let rest = received.split_off(end + 1);
    let line = std::mem::replace(received, rest);
    (line.len() <= MAX_LINE).then(|| line.trim_ascii().to_vec())
}

/// The next command line (trimmed), or `None` when the connection is to end: closed by the
/// client, silent for [`CONTROL_IDLE`], or a line longer than [`MAX_LINE`] (answered first).
async fn read_line(
    reader: &mut (impl AsyncBufRead + Unpin),
    writer: &mut OwnedWriteHalf,
) -> io::Result<Option<Vec<u8>>> {
    let mut line = Vec::new();
    let limit = u64::try_from(MAX_LINE).unwrap_or(u64::MAX);
    let mut limited = reader.take(limit);
    let reading = limited.read_until(b'\n', &mut line);
    let Ok(read) = tokio::time::timeout(CONTROL_IDLE, reading).await else {
        writer.write_all(b"ERROR idle for too long\n").await?;
        return Ok(None);
    };
    let read = read?;
    if read == 0 {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') && read == MAX_LINE {
        writer.write_all(b"ERROR line too long\n").await?;
        return Ok(None);
    }
    Ok(Some(line.trim_ascii().to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_line_is_split_from_what_follows() {
        let mut received = b"token abc\r\nfaults\n".to_vec();
        assert_eq!(split_line(&mut received), Some(b"token abc".to_vec()));
        assert_eq!(received, b"faults\n");
        let mut long = vec![b'x'; MAX_LINE + 5];
        long.push(b'\n');
        assert_eq!(split_line(&mut long), None);
        assert!(holds_line(&[b'x'; MAX_LINE]));
    }

    #[test]
    fn the_oldest_waiting_connection_is_pushed_out() {
        let unadmitted = Unadmitted::default();
        let first = unadmitted.enter();
        let mut rest: Vec<Waiting> = (1..MAX_UNADMITTED).map(|_| unadmitted.enter()).collect();
        assert_eq!(lock(&unadmitted.0).waiting.len(), MAX_UNADMITTED);
        rest.push(unadmitted.enter());
        assert_eq!(lock(&unadmitted.0).waiting.len(), MAX_UNADMITTED);
        assert!(!lock(&unadmitted.0)
            .waiting
            .iter()
            .any(|(id, _)| *id == first.id));
        drop(rest);
        drop(first);
        assert!(lock(&unadmitted.0).waiting.is_empty());
    }
}
