//! The module's AT port as a host reaches it: the process's standard input and output, a TCP
//! listener, or a pseudo-terminal that firmware opens like a UART.

use crate::console::{Terminal, TerminalWriter};
use anyhow::{bail, Context, Result};
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::pty::openpty;
use nix::sys::termios::{self, SetArg, Termios};
use std::fs::File;
use std::future::Future;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context as TaskContext, Poll};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;

/// Where the AT port is, as written on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortSpec {
    Stdio,
    Tcp(String),
    Pty(PathBuf),
}

impl std::str::FromStr for PortSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s == "stdio" {
            Ok(PortSpec::Stdio)
        } else if let Some(addr) = s.strip_prefix("tcp:") {
            Ok(PortSpec::Tcp(addr.to_string()))
        } else if let Some(path) = s.strip_prefix("pty:").filter(|p| !p.is_empty()) {
            Ok(PortSpec::Pty(PathBuf::from(path)))
        } else {
            Err(format!("{s:?}: write stdio, tcp:HOST:PORT or pty:PATH"))
        }
    }
}

pub type Reader = Box<dyn AsyncRead + Unpin + Send>;
pub type Writer = Box<dyn AsyncWrite + Unpin + Send>;

/// An open AT port: it hands out connections, one at a time.
pub enum Port {
    /// Standard input and output; the connection ends, and the program with it, at end of input.
    Stdio {
        taken: bool,
        _raw: Option<RawTerminal>,
        /// The screen the console shares, when it does.
        terminal: Arc<Terminal>,
    },
    /// Each TCP client in turn is the host.
    Tcp(TcpListener),
    /// The master side of a pseudo-terminal, and the link to its slave.
    Pty {
        master: Option<PtyMaster>,
        link: PathBuf,
        _slave: OwnedFd,
    },
}

impl Port {
    /// Opens the port; on standard input/output, the AT output goes through `terminal` when the
    /// console shares its screen.
    pub async fn open(spec: &PortSpec, terminal: &Arc<Terminal>) -> Result<Port> {
        match spec {
            PortSpec::Stdio => Ok(Port::Stdio {
                taken: false,
                _raw: RawTerminal::enter()?,
                terminal: Arc::clone(terminal),
            }),
            PortSpec::Tcp(addr) => {
                let listener = TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("listening on {addr}"))?;
                Ok(Port::Tcp(listener))
            }
            PortSpec::Pty(link) => open_pty(link),
        }
    }

    /// Where a host connects, for the start-up message.
    pub fn describe(&self) -> String {
        match self {
            Port::Stdio { .. } => "standard input/output".into(),
            Port::Tcp(l) => l
                .local_addr()
                .map(|a| format!("tcp {a}"))
                .unwrap_or_else(|_| "tcp".into()),
            Port::Pty { link, .. } => format!("pseudo-terminal {}", link.display()),
        }
    }

    /// Whether the program ends when its connection ends.
    pub fn ends_with_connection(&self) -> bool {
        matches!(self, Port::Stdio { .. })
    }

    /// Waits for the next host. Stdio and the pseudo-terminal have one host, then none.
    pub async fn accept(&mut self) -> Result<(Reader, Writer)> {
        match self {
            Port::Stdio {
                taken, terminal, ..
            } if !*taken => {
                *taken = true;
                let writer: Writer = if terminal.is_shared() {
                    Box::new(TerminalWriter(Arc::clone(terminal)))
                } else {
                    Box::new(tokio::io::stdout())
                };
                Ok((Box::new(tokio::io::stdin()), writer))
            }
            Port::Tcp(listener) => {
                let (stream, _) = listener.accept().await?;
                stream.set_nodelay(true)?;
                let (r, w) = stream.into_split();
                Ok((Box::new(r), Box::new(w)))
            }
            Port::Pty { master, .. } if master.is_some() => {
                let master = master.take().expect("checked");
                let writer = master.try_clone()?;
                Ok((Box::new(master), Box::new(writer)))
            }
            _ => std::future::pending().await,
        }
    }
}

impl Drop for Port {
    fn drop(&mut self) {
        if let Port::Pty { link, .. } = self {
            let _ = std::fs::remove_file(link);
        }
    }
}

/// Creates a pseudo-terminal in raw mode and a symbolic link to its slave at `link`.
fn open_pty(link: &Path) -> Result<Port> {
    let pty = openpty(None, None).context("creating a pseudo-terminal")?;
    let mut attrs = termios::tcgetattr(&pty.slave)?;
    termios::cfmakeraw(&mut attrs);
    termios::tcsetattr(&pty.slave, SetArg::TCSANOW, &attrs)?;
    let slave_path = std::fs::read_link(format!("/proc/self/fd/{}", pty.slave.as_raw_fd()))
        .context("finding the pseudo-terminal's name")?;
    match std::fs::symlink_metadata(link) {
        Ok(meta) if meta.file_type().is_symlink() => std::fs::remove_file(link)?,
        Ok(_) => bail!(
            "{} exists and is not a link; choose another pty path",
            link.display()
        ),
        Err(_) => {}
    }
    std::os::unix::fs::symlink(&slave_path, link)
        .with_context(|| format!("linking {} to {}", link.display(), slave_path.display()))?;
    // Keeping our own descriptor of the slave open means a host closing the port does not hang it up:
    // the next host can open it again, as with a real UART.
    Ok(Port::Pty {
        master: Some(PtyMaster::new(pty.master)?),
        link: link.to_path_buf(),
        _slave: pty.slave,
    })
}

/// The master side of a pseudo-terminal, non-blocking, for tokio.
pub struct PtyMaster {
    fd: AsyncFd<File>,
    /// While writing: the bytes being "transmitted", and when they will have arrived.
    sending: Option<(usize, Pin<Box<tokio::time::Sleep>>)>,
}

/// The line speed of a pseudo-terminal the host has not set (Linux's default for a new one).
const DEFAULT_BAUD: u32 = 38_400;

/// The line speed the host set on the pseudo-terminal, in bits a second.
fn line_speed(file: &File) -> u32 {
    use termios::BaudRate::*;
    let Ok(attrs) = termios::tcgetattr(file.as_fd()) else {
        return DEFAULT_BAUD;
    };
    match termios::cfgetospeed(&attrs) {
        B1200 => 1_200,
        B2400 => 2_400,
        B4800 => 4_800,
        B9600 => 9_600,
        B19200 => 19_200,
        B57600 => 57_600,
        B115200 => 115_200,
        B230400 => 230_400,
        B460800 => 460_800,
        B921600 => 921_600,
        _ => DEFAULT_BAUD,
    }
}

impl PtyMaster {
    fn new(fd: OwnedFd) -> io::Result<Self> {
        let flags = OFlag::from_bits_truncate(fcntl(&fd, FcntlArg::F_GETFL)?);
        fcntl(&fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
        Ok(PtyMaster {
            fd: register(File::from(fd))?,
            sending: None,
        })
    }

    fn try_clone(&self) -> io::Result<Self> {
        Ok(PtyMaster {
            fd: register(self.fd.get_ref().try_clone()?)?,
            sending: None,
        })
    }

    /// The next piece of `data` to write and when it will have crossed the line: as much as
    /// takes about 10 ms at the line speed (10 bits a byte, with start and stop bits).
    fn start_sending(&self, data: &[u8]) -> (usize, Pin<Box<tokio::time::Sleep>>) {
        let baud = line_speed(self.fd.get_ref());
        let len = data.len().min((baud / 1000) as usize).max(1);
        let time = std::time::Duration::from_micros(len as u64 * 10_000_000 / u64::from(baud));
        (len, Box::pin(tokio::time::sleep(time)))
    }
}

/// Registers a non-blocking file with the tokio reactor.
fn register(file: File) -> io::Result<AsyncFd<File>> {
    // SAFETY: the `File` owns its descriptor and the `AsyncFd` owns the `File`, so the descriptor
    // stays open, and the same, for as long as the registration lives.
    unsafe { AsyncFd::register(file) }.map_err(|e| io::Error::other(e.to_string()))
}

impl AsyncRead for PtyMaster {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            let mut guard = ready!(self.fd.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            match guard.try_io(|fd| fd.get_ref().read(unfilled)) {
                Ok(Ok(n)) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => continue,
            }
        }
    }
}

/// Writing paces the output as a UART at the line speed the host set delivers it (AT+IPR's rate
/// on a real module; the host's serial library sets it on the pseudo-terminal): a piece of the
/// output appears when it would have crossed the line, not at once. Drivers written against real
/// modules count on that time (see docs/decisions.md, "Data sockets").
impl AsyncWrite for PtyMaster {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if self.sending.is_none() {
            self.sending = Some(self.start_sending(data));
        }
        let (len, arrival) = self.sending.as_mut().expect("set above");
        let len = (*len).min(data.len());
        ready!(arrival.as_mut().poll(cx));
        loop {
            let mut guard = ready!(self.fd.poll_write_ready(cx))?;
            match guard.try_io(|fd| fd.get_ref().write(&data[..len])) {
                Ok(result) => {
                    self.sending = None;
                    return Poll::Ready(result);
                }
                Err(_would_block) => continue,
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// While alive, a terminal on standard input sends each key as typed and does not echo it, like a
/// serial terminal program: the module does the echoing. Restored when dropped.
pub struct RawTerminal {
    saved: Termios,
}

impl RawTerminal {
    /// Switches standard input if it is a terminal; `None` when it is a pipe or a file.
    fn enter() -> Result<Option<RawTerminal>> {
        let stdin = io::stdin();
        let Ok(saved) = termios::tcgetattr(stdin.as_fd()) else {
            return Ok(None);
        };
        let mut raw = saved.clone();
        raw.local_flags
            .remove(termios::LocalFlags::ICANON | termios::LocalFlags::ECHO);
        raw.input_flags.remove(termios::InputFlags::ICRNL);
        termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw)?;
        Ok(Some(RawTerminal { saved }))
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(io::stdin().as_fd(), SetArg::TCSANOW, &self.saved);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_port_specs() {
        assert_eq!("stdio".parse(), Ok(PortSpec::Stdio));
        assert_eq!(
            "tcp:127.0.0.1:7000".parse(),
            Ok(PortSpec::Tcp("127.0.0.1:7000".into()))
        );
        assert_eq!(
            "pty:/tmp/ttyNB".parse(),
            Ok(PortSpec::Pty("/tmp/ttyNB".into()))
        );
        assert!("pty:".parse::<PortSpec>().is_err());
        assert!("serial".parse::<PortSpec>().is_err());
    }
}
