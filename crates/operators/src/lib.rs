//! The operator protocols of the seeds, as pure codecs shared by the module (which builds the
//! messages) and the stand-in platforms (which read them). Wire facts: `shared/spec/protocols.md`.
//!
//! - [`selfreg`]: China Telecom and China Unicom self-registration records (base64 of a JSON
//!   object, CoAP POST) and their answers.
//! - [`dm`]: China Mobile CMDMP: the encrypted endpoint name and EPI, and the encrypted values of
//!   object 666.
//! - [`ctiot`]: the China Telecom IoT platform / CTWing AEP link: addresses, the data object's
//!   paths, the `AAAA0000` reply, the hex of the AT commands.

pub mod ctiot;
pub mod dm;
pub mod selfreg;
