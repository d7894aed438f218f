//! The operator protocols of the seeds, as pure codecs shared by the module (which builds the
//! messages) and the stand-in platforms (which read them). Wire facts: `shared/spec/protocols.md`.
//!
//! - [`selfreg`]: China Telecom and China Unicom self-registration records (base64 of a JSON
//!   object, CoAP POST) and their answers.
//! - [`dm`]: China Mobile CMDMP: the encrypted endpoint name and EPI, and the encrypted values of
//!   object 666.

pub mod dm;
pub mod selfreg;
