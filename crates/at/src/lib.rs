//! AT command syntax for nbmodem, with no I/O.
//!
//! The layers, in the order a byte meets them:
//! - [`LineAssembler`] turns a byte stream from the UART into command lines (`<CR>`, `<CR><LF>` or a
//!   lone `<LF>` ends a line; backspace edits; over-long lines are reported, not truncated).
//! - [`parse_line`] turns one line into a [`Command`]: its name and form (test `AT+X=?`, read `AT+X?`,
//!   set `AT+X=…`, execute `AT+X`, or a basic command such as `ATE0`) and its raw [`Param`]s.
//! - [`Params`] gives typed access to the parameters with range checks; [`Syntax`] reads a
//!   manual's bracketed parameter list and says how many parameters a line may carry.
//! - [`CommandTable`] looks a command up in a per-profile table of [`CommandSpec`]s.
//! - [`DataInput`] takes the raw bytes after a `>` prompt (a command that sends data, AT+QISEND):
//!   a fixed length, or up to Ctrl-Z; ESC cancels. While it runs, no line is assembled.
//! - [`format`] frames information text, final results and URCs as `<CR><LF>text<CR><LF>`.

mod data;
pub mod format;
mod line;
mod params;
mod parse;
mod syntax;
mod table;

pub use data::{DataEnd, DataInput, CTRL_Z, ESC};
pub use format::{FinalResult, ResultFormat};
pub use line::{LineAssembler, LineEvent, MAX_LINE_LEN};
pub use params::{Param, ParamError, Params};
pub use parse::{parse_line, Command, Form, SyntaxError};
pub use syntax::{Syntax, SyntaxLineError};
pub use table::{CommandSpec, CommandTable, Forms};
