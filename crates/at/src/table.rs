//! Per-profile command tables: which commands exist, in which forms, and who handles them.

use crate::parse::Form;

/// The set of forms a command accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forms(u8);

impl Forms {
    pub const TEST: Forms = Forms(1);
    pub const READ: Forms = Forms(2);
    pub const SET: Forms = Forms(4);
    pub const EXECUTE: Forms = Forms(8);
    pub const TEST_READ_SET: Forms = Forms(1 | 2 | 4);
    pub const TEST_SET: Forms = Forms(1 | 4);
    pub const TEST_EXECUTE: Forms = Forms(1 | 8);
    pub const ALL: Forms = Forms(15);

    pub const fn with(self, other: Forms) -> Forms {
        Forms(self.0 | other.0)
    }

    pub fn accepts(self, form: Form) -> bool {
        let bit = match form {
            Form::Test => Self::TEST,
            Form::Read => Self::READ,
            Form::Set => Self::SET,
            Form::Execute => Self::EXECUTE,
        };
        self.0 & bit.0 != 0
    }
}

/// One command of a profile's table. `H` is the handler type of the layer that owns the table.
#[derive(Debug)]
pub struct CommandSpec<H: 'static> {
    /// As typed after `AT`: `+CGMR`, `I`, `E`, or `""` for the bare `AT`.
    pub name: &'static str,
    pub forms: Forms,
    pub handler: H,
    /// The seed documents answer every error of this command with a plain `ERROR`, whatever AT+CMEE
    /// says (BC260Y-CN's AT+QSREGENABLE, for example).
    pub plain_error: bool,
    /// The set command's parameter list as the seed brackets it (see [`crate::Syntax`]), when
    /// its groups decide how many parameters a line may carry; `None` leaves counting to the
    /// handler.
    pub syntax: Option<&'static str>,
}

/// A profile's command table, built from groups shared between profiles.
#[derive(Debug, Clone, Copy)]
pub struct CommandTable<H: 'static> {
    groups: &'static [&'static [CommandSpec<H>]],
}

impl<H> CommandTable<H> {
    pub const fn new(groups: &'static [&'static [CommandSpec<H>]]) -> Self {
        CommandTable { groups }
    }

    /// The command named `name` (compared without regard to case); the first group that has it wins,
    /// so a profile can put its own variant of a shared command in an earlier group.
    pub fn lookup(&self, name: &str) -> Option<&'static CommandSpec<H>> {
        self.groups
            .iter()
            .flat_map(|group| group.iter())
            .find(|spec| spec.name.eq_ignore_ascii_case(name))
    }

    /// Every command of the table, once each, in table order.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        let mut seen = Vec::new();
        self.groups
            .iter()
            .flat_map(|g| g.iter())
            .filter_map(move |spec| {
                if seen
                    .iter()
                    .any(|n: &&str| n.eq_ignore_ascii_case(spec.name))
                {
                    None
                } else {
                    seen.push(spec.name);
                    Some(spec.name)
                }
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static SHARED: &[CommandSpec<u8>] = &[
        CommandSpec {
            name: "+CGMR",
            forms: Forms::EXECUTE,
            handler: 1,
            plain_error: false,
            syntax: None,
        },
        CommandSpec {
            name: "I",
            forms: Forms::EXECUTE,
            handler: 2,
            plain_error: false,
            syntax: None,
        },
    ];
    static OVERRIDE: &[CommandSpec<u8>] = &[CommandSpec {
        name: "I",
        forms: Forms::ALL,
        handler: 3,
        plain_error: true,
        syntax: None,
    }];
    static TABLE: CommandTable<u8> = CommandTable::new(&[OVERRIDE, SHARED]);

    #[test]
    fn lookup_ignores_case_and_prefers_earlier_groups() {
        assert_eq!(TABLE.lookup("+cgmr").map(|s| s.handler), Some(1));
        assert_eq!(TABLE.lookup("i").map(|s| s.handler), Some(3));
        assert!(TABLE.lookup("+NOPE").is_none());
        assert_eq!(TABLE.names().collect::<Vec<_>>(), vec!["I", "+CGMR"]);
    }

    #[test]
    fn forms() {
        assert!(Forms::TEST_READ_SET.accepts(Form::Read));
        assert!(!Forms::TEST_READ_SET.accepts(Form::Execute));
        assert!(Forms::EXECUTE.with(Forms::SET).accepts(Form::Set));
    }
}
