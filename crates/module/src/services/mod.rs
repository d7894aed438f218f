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
pub mod socket;
