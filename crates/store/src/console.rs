//! Where the stand-ins' console lines go (a line per request handled). `nbmodem platform` prints
//! them on standard error; the sandbox hands in its own [`Console`], which keeps them off the
//! line being typed at the module that shares its terminal.

use std::fmt;
use std::io::Write;
use std::sync::Arc;

/// A place for console lines, shared by every server of a platform.
#[derive(Clone)]
pub struct Console(Arc<dyn Fn(&str) + Send + Sync>);

impl Console {
    /// A console that hands each line to `print`.
    pub fn new(print: impl Fn(&str) + Send + Sync + 'static) -> Self {
        Console(Arc::new(print))
    }

    /// Standard error, a line each.
    pub fn stderr() -> Self {
        Console::new(|line| {
            // A console that went away is no reason to stop serving.
            let _ = writeln!(std::io::stderr().lock(), "{line}");
        })
    }

    pub fn line(&self, text: &str) {
        (self.0)(text)
    }
}

impl fmt::Debug for Console {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Console")
    }
}
