//! The module's protocol engines as [`crate::service::Service`]s.
//!
//! - [`self_registration`]: China Telecom and China Unicom self-registration.
//! - [`cmdmp`]: China Mobile DM (CMDMP).
//! - [`ctiot`]: the China Telecom IoT platform / CTWing AEP link (BC260Y-CN).
//! - [`fota`]: the firmware download and update of DFOTA (BC260Y-CN).
//! - [`socket`]: a data socket the host opened (UDP, or TCP with a stream).
//! - [`query`]: a ping or a name lookup the host asked for.
//! - [`firmware_object`]: LwM2M Object 5 on the CT IoT link, which the two share.

pub mod cmdmp;
pub mod ctiot;
pub mod firmware_object;
pub mod fota;
pub mod query;
pub mod self_registration;
pub mod sntp;
pub mod socket;

use crate::nvram::{checked, SectionCheck};
use crate::service::Starter;

/// The services started when the module has booted: those the host talks to before any network
/// (AT+NNMI is set before AT+NCDPOPEN, seed 002 §4.1.2).
pub const AT_BOOT: &[Starter] = &[ctiot::start, fota::start];

/// The services started at the first attach after power-on (seeds 000, 001: "开机入网"). Adding a
/// service that starts then is one line here.
pub const AT_FIRST_ATTACH: &[Starter] = &[self_registration::start, cmdmp::start];

/// The NVRAM sections the services keep, checked when a store is loaded.
pub const SAVED: &[SectionCheck] = &[
    checked::<self_registration::SelfRegistrationSettings>,
    checked::<cmdmp::DmSettings>,
    checked::<ctiot::LinkSettings>,
    checked::<ctiot::KeptObservation>,
    checked::<fota::FotaRecord>,
];
