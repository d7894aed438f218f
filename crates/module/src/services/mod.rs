//! The module's protocol engines as [`crate::service::Service`]s.
//!
//! - [`self_registration`]: China Telecom and China Unicom self-registration.
//! - [`cmdmp`]: China Mobile DM (CMDMP).
//! - [`ctiot`]: the China Telecom IoT platform / CTWing AEP link (BC260Y-CN).
//! - [`fota`]: the firmware download and update of DFOTA (BC260Y-CN).

pub mod cmdmp;
pub mod ctiot;
pub mod fota;
pub mod self_registration;
