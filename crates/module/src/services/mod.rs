//! The module's protocol engines as [`crate::service::Service`]s.
//!
//! - [`self_registration`]: China Telecom and China Unicom self-registration.
//! - [`cmdmp`]: China Mobile DM (CMDMP).

pub mod cmdmp;
pub mod self_registration;
