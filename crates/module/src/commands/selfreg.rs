//! AT+QSELFREGISTER (BC25 family: every operator the model serves) and AT+QSREGENABLE
//! (BC260Y-CN: China Telecom): switch operator self-registration on or off. Saved to NVRAM at once,
//! in use from the next boot; the read shows the saved value (behaviour.md §4.1).

use super::{spec, HandlerResult};
use crate::commands::Handler;
use crate::module::Module;
use crate::revision::Revision;
use nbmodem_at::{Command, CommandSpec, Form, Forms};

pub(super) static QSELFREGISTER: &[CommandSpec<Handler>] = &[spec(
    "+QSELFREGISTER",
    Forms::TEST_READ_SET,
    self_registration,
)];

/// Seed 001 answers every error of AT+QSREGENABLE with a plain ERROR.
pub(super) static QSREGENABLE: &[CommandSpec<Handler>] = &[CommandSpec {
    name: "+QSREGENABLE",
    forms: Forms::TEST_READ_SET,
    handler: self_registration,
    plain_error: true,
}];

fn self_registration(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    let name = c.name.to_ascii_uppercase();
    match c.form {
        Form::Test => Ok(vec![m.line(&name, "(0,1)")]),
        Form::Read => {
            let shown = if m.saved.self_registration_reads_three {
                3
            } else {
                u8::from(saved_switch(m))
            };
            Ok(vec![m.line(&name, shown)])
        }
        _ => {
            c.params.expect_count(1..=1)?;
            let on = c.params.int(0, 0..=1)? == 1;
            m.save(|nv| {
                nv.self_registration = Some(on);
                nv.self_registration_reads_three = false;
            })?;
            Ok(vec![])
        }
    }
}

/// The saved switch, or the default of the installed firmware when never set.
fn saved_switch(m: &Module) -> bool {
    m.saved
        .self_registration
        .unwrap_or_else(|| default_on(m.profile, &m.saved.firmware))
}

/// Whether `firmware` has self-registration on by default (seed 000 table 1).
pub(crate) fn default_on(profile: &crate::profile::Profile, firmware: &str) -> bool {
    let Some(revision) = Revision::parse(firmware) else {
        return false;
    };
    profile
        .self_registration
        .default_on_up_to
        .iter()
        .filter_map(|limit| Revision::parse(limit))
        .any(|limit| revision.is_at_most(&limit))
}
