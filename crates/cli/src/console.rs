//! The console of `nbmodem sandbox` and `nbmodem modem`: a line on standard error for each thing
//! the module's protocol engines and the stand-in platforms do.
//!
//! When the AT port is standard input/output and both streams are the same terminal, the module's
//! output and the console share one screen. A console line must then never land inside an AT line:
//! [`Terminal`] writes the AT output itself and remembers the line it left open (the echo of what
//! the host is typing). Console lines that come meanwhile start on a line of their own below it,
//! and the half-typed line is written again when the AT output goes on (the next key's echo), so
//! the typing goes on below them where it was. A line already entered (its echo ends in `<CR>`)
//! is not written again.

use std::io::{self, Write};
use std::sync::{Arc, Mutex, PoisonError};

/// The longest open line kept to write again; a host that types more without a line end loses
/// the front of it from the screen, never from the module.
const MAX_OPEN_LINE: usize = 4096;

/// The screen of the AT port and the console.
pub struct Terminal {
    /// Whether the AT output and the console share one screen (else nothing is tracked).
    shared: bool,
    screen: Mutex<Screen>,
}

struct Screen {
    at: Box<dyn Write + Send>,
    console: Box<dyn Write + Send>,
    /// The AT output since its last line end.
    open_line: Vec<u8>,
    /// Console lines were written below the open line: it is written again before more AT
    /// output.
    interrupted: bool,
}

impl Terminal {
    /// Standard output for the AT port and standard error for the console; `shared` when both
    /// are one terminal and the AT port is standard input/output.
    pub fn standard(shared: bool) -> Arc<Terminal> {
        Terminal::new(shared, Box::new(io::stdout()), Box::new(io::stderr()))
    }

    pub fn new(
        shared: bool,
        at: Box<dyn Write + Send>,
        console: Box<dyn Write + Send>,
    ) -> Arc<Terminal> {
        Arc::new(Terminal {
            shared,
            screen: Mutex::new(Screen {
                at,
                console,
                open_line: Vec::new(),
                interrupted: false,
            }),
        })
    }

    /// Whether the AT output goes through [`Terminal::write_at`].
    pub fn is_shared(&self) -> bool {
        self.shared
    }

    /// Writes the module's AT output.
    pub fn write_at(&self, bytes: &[u8]) -> io::Result<()> {
        let mut screen = self.screen();
        if screen.interrupted {
            let Screen { at, open_line, .. } = &mut *screen;
            at.write_all(open_line)?;
            screen.interrupted = false;
        }
        screen.at.write_all(bytes)?;
        screen.at.flush()?;
        if self.shared {
            screen.follow(bytes);
        }
        Ok(())
    }

    /// Writes one console line.
    pub fn line(&self, text: &str) {
        // On a shared terminal in raw mode, a line ends as the module's own lines do.
        let line_end: &[u8] = if self.shared { b"\r\n" } else { b"\n" };
        let mut screen = self.screen();
        // A console that went away is no reason to stop the module.
        let _ = screen.console_line(text, line_end);
    }

    /// The stand-ins' console: lines into this terminal.
    pub fn console(self: &Arc<Self>) -> nbmodem_platform::Console {
        let terminal = Arc::clone(self);
        nbmodem_platform::Console::new(move |text| terminal.line(text))
    }

    fn screen(&self) -> std::sync::MutexGuard<'_, Screen> {
        // A writer that panicked leaves nothing half-done worth refusing the screen for.
        self.screen.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Screen {
    /// Follows what the AT port wrote: the line it leaves open.
    fn follow(&mut self, bytes: &[u8]) {
        match bytes.iter().rposition(|&b| b == b'\n') {
            Some(end) => {
                self.open_line.clear();
                self.open_line.extend_from_slice(&bytes[end + 1..]);
            }
            None => self.open_line.extend_from_slice(bytes),
        }
        let excess = self.open_line.len().saturating_sub(MAX_OPEN_LINE);
        self.open_line.drain(..excess);
    }

    fn console_line(&mut self, text: &str, line_end: &[u8]) -> io::Result<()> {
        if !self.open_line.is_empty() && !self.interrupted {
            // Leave the open line as it is, and write below it.
            self.console.write_all(line_end)?;
            if self.open_line.ends_with(b"\r") {
                // An entered line: the AT output goes on below the console lines.
                self.open_line.clear();
            } else {
                self.interrupted = true;
            }
        }
        self.console.write_all(text.as_bytes())?;
        self.console.write_all(line_end)?;
        self.console.flush()
    }
}

/// The AT port's writer on a shared terminal: each write goes through [`Terminal::write_at`]. A
/// terminal takes a write at once, so writing in place does not hold up the runtime.
pub struct TerminalWriter(pub Arc<Terminal>);

impl tokio::io::AsyncWrite for TerminalWriter {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<io::Result<usize>> {
        std::task::Poll::Ready(self.0.write_at(buf).map(|()| buf.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One screen that both streams write to, as a terminal is.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn terminal(shared: bool) -> (Arc<Terminal>, Shared) {
        let screen = Shared::default();
        let terminal = Terminal::new(shared, Box::new(screen.clone()), Box::new(screen.clone()));
        (terminal, screen)
    }

    fn text(screen: &Shared) -> String {
        String::from_utf8(screen.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn a_console_line_never_splits_a_line_being_typed() {
        let (terminal, screen) = terminal(true);
        terminal.write_at(b"\r\nOK\r\nAT+NCDP").unwrap();
        terminal.line("22:27:06 CT IoT: registering");
        terminal.line("22:27:06 CT IoT: sent 103 bytes");
        terminal.write_at(b"O").unwrap();
        terminal.write_at(b"PEN").unwrap();
        assert_eq!(
            text(&screen),
            "\r\nOK\r\nAT+NCDP\r\n22:27:06 CT IoT: registering\r\n\
             22:27:06 CT IoT: sent 103 bytes\r\nAT+NCDPOPEN"
        );
    }

    #[test]
    fn an_entered_line_is_not_written_again() {
        let (terminal, screen) = terminal(true);
        terminal
            .write_at(b"AT+NCDPOPEN=\"180.101.147.115\",5683\r")
            .unwrap();
        terminal.line("22:27:06 CT IoT: registering");
        terminal.write_at(b"\r\nOK\r\n").unwrap();
        terminal.line("22:27:07 CT IoT: registered");
        assert_eq!(
            text(&screen),
            "AT+NCDPOPEN=\"180.101.147.115\",5683\r\r\n22:27:06 CT IoT: registering\r\n\
             \r\nOK\r\n22:27:07 CT IoT: registered\r\n"
        );
    }

    #[test]
    fn separate_screens_are_left_alone() {
        let (terminal, screen) = terminal(false);
        terminal.write_at(b"AT").unwrap();
        terminal.line("a console line");
        assert_eq!(text(&screen), "ATa console line\n");
    }
}
