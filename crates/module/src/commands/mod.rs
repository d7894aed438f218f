//! AT command handlers and the per-profile command tables built from them.
//!
//! A handler gets the module and the parsed command (its form is one the table allows) and returns
//! the information text lines or a [`Failure`]. Adding a command is one [`CommandSpec`] entry in a
//! group plus its handler.

mod basic;

use crate::errors::ErrorKind;
use crate::module::Module;
use nbmodem_at::{Command, CommandSpec, CommandTable, Forms, ParamError};

/// Why a command failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Answered with a plain `ERROR`.
    Syntax,
    /// Answered as AT+CMEE says, from the profile's error table.
    Cme(ErrorKind),
}

impl From<ParamError> for Failure {
    fn from(_: ParamError) -> Self {
        Failure::Cme(ErrorKind::InvalidParameter)
    }
}

pub type HandlerResult = Result<Vec<String>, Failure>;
pub type Handler = fn(&mut Module, &Command<'_>) -> HandlerResult;

const fn spec(name: &'static str, forms: Forms, handler: Handler) -> CommandSpec<Handler> {
    CommandSpec {
        name,
        forms,
        handler,
        plain_error: false,
    }
}

/// The Quectel SoC firmware of BC25, BC32, BC260Y-CN, BC26 and BC20.
pub static QUECTEL_TABLE: CommandTable<Handler> =
    CommandTable::new(&[basic::COMMON, basic::QUECTEL_ICCID]);

/// The Neul-based firmware of BC35-G, BC28 and BC95.
pub static NEUL_TABLE: CommandTable<Handler> =
    CommandTable::new(&[basic::COMMON, basic::NEUL_ICCID]);
