//! AT command handlers and the per-profile command tables built from them.
//!
//! A handler gets the module and the parsed command (its form is one the table allows) and returns
//! the information text lines or a [`CommandError`]. Adding a command is one [`CommandSpec`] entry in a
//! group plus its handler.

mod basic;
mod ctiot;
mod dm;
mod ping;
mod selfreg;
pub(crate) mod sockets;

use crate::errors::ErrorKind;
use crate::module::Module;
use crate::profile::Feature;
use nbmodem_at::{Command, CommandSpec, CommandTable, Forms, ParamError};

/// Why a command failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandError {
    /// Answered with a plain `ERROR`.
    Syntax,
    /// Answered as AT+CMEE says, from the profile's error table.
    Cme(ErrorKind),
}

impl From<ParamError> for CommandError {
    fn from(_: ParamError) -> Self {
        CommandError::Cme(ErrorKind::InvalidParameter)
    }
}

pub type HandlerResult = Result<Vec<String>, CommandError>;
pub type HandlerFn = fn(&mut Module, &Command<'_>) -> HandlerResult;

/// What runs a command, and the firmware feature it belongs to: on a revision without that
/// feature the command does not exist (plain `ERROR`, as an unknown command).
#[derive(Debug, Clone, Copy)]
pub struct Handler {
    pub run: HandlerFn,
    pub feature: Option<Feature>,
}

const fn spec(name: &'static str, forms: Forms, run: HandlerFn) -> CommandSpec<Handler> {
    CommandSpec {
        name,
        forms,
        handler: Handler { run, feature: None },
        plain_error: false,
        syntax: None,
    }
}

/// A command whose every error is a plain `ERROR`, as some seeds show.
const fn plain(name: &'static str, forms: Forms, run: HandlerFn) -> CommandSpec<Handler> {
    CommandSpec {
        plain_error: true,
        ..spec(name, forms, run)
    }
}

/// A command only the firmware revisions with `feature` have.
const fn gated(feature: Feature, spec: CommandSpec<Handler>) -> CommandSpec<Handler> {
    CommandSpec {
        handler: Handler {
            feature: Some(feature),
            ..spec.handler
        },
        ..spec
    }
}

/// A command whose set form takes the parameter counts of the seed's bracketed `syntax` line:
/// a group is given whole or not at all.
const fn bracketed(syntax: &'static str, spec: CommandSpec<Handler>) -> CommandSpec<Handler> {
    CommandSpec {
        syntax: Some(syntax),
        ..spec
    }
}

/// BC25 and BC32 families (seed 000).
pub static QUECTEL_TABLE: CommandTable<Handler> = CommandTable::new(&[
    basic::COMMON,
    basic::QUECTEL_ICCID,
    selfreg::QSELFREGISTER,
    dm::CME,
    sockets::QUECTEL,
    ping::QUECTEL,
]);

/// BC260Y-CN (seeds 001 and 002).
pub static BC260Y_TABLE: CommandTable<Handler> = CommandTable::new(&[
    basic::COMMON,
    basic::QUECTEL_ICCID,
    selfreg::QSREGENABLE,
    dm::PLAIN,
    ctiot::CTIOT,
    sockets::QUECTEL,
    ping::QUECTEL,
]);

/// BC26 and BC20 (seed 003).
pub static BC26_TABLE: CommandTable<Handler> = CommandTable::new(&[
    basic::COMMON,
    basic::QUECTEL_ICCID,
    dm::PLAIN,
    sockets::QUECTEL,
    ping::QUECTEL,
]);

/// The Neul-based firmware of BC35-G, BC28 and BC95 (seed 004).
pub static NEUL_TABLE: CommandTable<Handler> = CommandTable::new(&[
    basic::COMMON,
    basic::NEUL_ICCID,
    dm::DMPCONFIG,
    sockets::NEUL,
    ping::NEUL,
]);

#[cfg(test)]
mod tests {
    use super::*;
    use nbmodem_at::Syntax;

    #[test]
    fn every_bracketed_syntax_line_reads() {
        for table in [&QUECTEL_TABLE, &BC260Y_TABLE, &BC26_TABLE, &NEUL_TABLE] {
            for name in table.names() {
                let spec = table.lookup(name).unwrap();
                if let Some(line) = spec.syntax {
                    assert!(Syntax::parse(line).is_ok(), "{name}: {line}");
                }
            }
        }
    }
}
