//! AT command handlers and the per-profile command tables built from them.
//!
//! A handler gets the module and the parsed command (its form is one the table allows) and returns
//! the information text lines or a [`CommandError`]. Adding a command is one [`CommandSpec`] entry in a
//! group plus its handler.

mod basic;
mod ctiot;
mod dm;
pub mod general;
mod matrix;
mod neul;
mod neul_ctiot;
mod ping;
pub mod quectel;
mod radio;
mod selfreg;
pub(crate) mod sockets;

pub use matrix::{all_names, display_name, matrix_markdown, MATRIX_BEGIN, MATRIX_END};

use crate::errors::ErrorKind;
use crate::module::Module;
use crate::neul::NeulSettings;
use crate::nvram::{checked, SectionCheck};
use crate::profile::{CommandSet, Feature, Profile};
use crate::radio::SleepSetting;
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

/// The NVRAM sections the command groups keep (the services keep theirs:
/// [`crate::services::SAVED`]).
pub const SAVED: &[SectionCheck] = &[
    checked::<SleepSetting>,
    checked::<NeulSettings>,
    checked::<general::GeneralSettings>,
];

/// BC25 and BC32 families (seed 000).
pub static QUECTEL_TABLE: CommandTable<Handler> = CommandTable::new(&[
    basic::COMMON,
    basic::QUECTEL_SLEEP_RESET,
    basic::QUECTEL_ICCID,
    general::ALL_MODELS,
    general::QUECTEL_SOC,
    quectel::QUECTEL,
    selfreg::QSELFREGISTER,
    dm::CME,
    sockets::QUECTEL,
    ping::QUECTEL,
    radio::RADIO_3GPP,
    radio::RADIO_QUECTEL,
]);

/// BC260Y-CN (seeds 001 and 002).
pub static BC260Y_TABLE: CommandTable<Handler> = CommandTable::new(&[
    basic::COMMON,
    basic::QUECTEL_SLEEP_RESET,
    basic::QUECTEL_ICCID,
    general::ALL_MODELS,
    general::QUECTEL_SOC,
    quectel::QUECTEL,
    selfreg::QSREGENABLE,
    dm::PLAIN,
    ctiot::CTIOT,
    sockets::QUECTEL,
    ping::QUECTEL,
    radio::RADIO_3GPP,
    radio::RADIO_QUECTEL,
]);

/// BC26 and BC20 (seed 003).
pub static BC26_TABLE: CommandTable<Handler> = CommandTable::new(&[
    basic::COMMON,
    basic::QUECTEL_SLEEP_RESET,
    basic::QUECTEL_ICCID,
    general::ALL_MODELS,
    general::QUECTEL_SOC,
    general::CGREG,
    quectel::QUECTEL,
    dm::PLAIN,
    sockets::QUECTEL,
    ping::QUECTEL,
    radio::RADIO_3GPP,
    radio::RADIO_QUECTEL,
]);

/// The Neul-based firmware of BC35-G, BC28 and BC95 (seed 004).
pub static NEUL_TABLE: CommandTable<Handler> = CommandTable::new(&[
    basic::COMMON,
    basic::NEUL_ICCID,
    general::ALL_MODELS,
    general::READ_ONLY_CLOCK,
    dm::DMPCONFIG,
    neul::NEUL,
    neul_ctiot::NEUL_CTIOT,
    sockets::NEUL,
    ping::NEUL,
    radio::RADIO_3GPP,
    radio::RADIO_NEUL,
]);

/// Every table, with the models that use it, for the matrix of docs/commands.md.
pub(crate) fn tables() -> [&'static CommandTable<Handler>; 4] {
    [&QUECTEL_TABLE, &BC260Y_TABLE, &BC26_TABLE, &NEUL_TABLE]
}

impl Profile {
    /// The command table of the model's firmware.
    pub fn commands(&self) -> &'static CommandTable<Handler> {
        match self.command_set {
            CommandSet::Quectel => &QUECTEL_TABLE,
            CommandSet::Bc260y => &BC260Y_TABLE,
            CommandSet::Bc26 => &BC26_TABLE,
            CommandSet::Neul => &NEUL_TABLE,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::SleepControl;
    use nbmodem_at::Syntax;

    #[test]
    fn every_bracketed_syntax_line_reads() {
        for table in tables() {
            for name in table.names() {
                let spec = table.lookup(name).unwrap();
                if let Some(line) = spec.syntax {
                    assert!(Syntax::parse(line).is_ok(), "{name}: {line}");
                }
            }
        }
    }

    /// AT+QSCLK exists exactly on the models whose deep sleep it controls, and each model's
    /// reboot command is in its table.
    #[test]
    fn sleep_and_reboot_commands_match_the_profiles() {
        for p in crate::PROFILES {
            let has_qsclk = p.commands().lookup("+QSCLK").is_some();
            let controls = matches!(p.sleep_control, SleepControl::Qsclk { .. });
            assert_eq!(has_qsclk, controls, "{}", p.model);
            let reboot = p.reboot_command.trim_start_matches("AT");
            let name = reboot.split('=').next().unwrap();
            assert!(p.commands().lookup(name).is_some(), "{}", p.model);
        }
    }
}
