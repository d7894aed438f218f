//! AT+QSELFREGISTER (BC25 family: every operator the model serves) and AT+QSREGENABLE
//! (BC260Y-CN: China Telecom): switch operator self-registration on or off. Saved to NVRAM at once,
//! in use from the next boot; the read shows the saved value (behaviour.md §4.1).

use super::{plain, spec, HandlerResult};
use crate::commands::Handler;
use crate::module::Module;
use crate::services::self_registration::{switched_on, SelfRegistrationSettings};
use nbmodem_at::{Command, CommandSpec, Form, Forms};

pub(super) static QSELFREGISTER: &[CommandSpec<Handler>] = &[spec(
    "+QSELFREGISTER",
    Forms::TEST_READ_SET,
    self_registration,
)];

/// Seed 001 answers every error of AT+QSREGENABLE with a plain ERROR.
pub(super) static QSREGENABLE: &[CommandSpec<Handler>] = &[plain(
    "+QSREGENABLE",
    Forms::TEST_READ_SET,
    self_registration,
)];

fn self_registration(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    let name = c.name.to_ascii_uppercase();
    match c.form {
        Form::Test => Ok(vec![m.line(&name, "(0,1)")]),
        Form::Read => {
            let reads_three = m
                .saved
                .section::<SelfRegistrationSettings>()
                .is_some_and(|s| s.reads_three);
            let shown = if reads_three {
                3
            } else {
                u8::from(switched_on(&m.saved, m.profile))
            };
            Ok(vec![m.line(&name, shown)])
        }
        _ => {
            c.params.expect_count(1..=1)?;
            let on = c.params.int(0, 0..=1)? == 1;
            m.save(|nv| {
                nv.edit(|s: &mut SelfRegistrationSettings| {
                    s.switch = Some(on);
                    s.reads_three = false;
                })
            })?;
            Ok(vec![])
        }
    }
}
