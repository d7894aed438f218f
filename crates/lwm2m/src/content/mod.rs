//! LwM2M 1.0 content formats: pure codecs from bytes to values and back, with no I/O.
//!
//! - [`Value`] and [`ResourceType`] model a resource value as the OMA object definitions type it;
//!   [`Path`] names an object, instance, resource or resource instance.
//! - [`tlv`] is the binary TLV format (11542): a tree of [`tlv::Entry`] plus typed value helpers.
//! - [`link`] is the CoRE link format (40) of registration payloads and Discover answers.
//! - [`text`] is plain text (0) for a single resource. Opaque (42) needs no codec: its bytes are
//!   the value.
//! - [`senml`] reads SenML JSON (110) into paths and values.
//! - [`ContentFormat`] maps the formats to their CoAP Content-Format numbers.
//!
//! Every decoder accepts arbitrary bytes and reports malformed input as an error; none panics.

mod format;
pub mod link;
mod path;
pub mod senml;
pub mod text;
pub mod tlv;
mod value;

pub use format::{ContentFormat, UnknownContentFormat};
pub use path::{Path, PathError};
pub use value::{ResourceType, Value, ValueError};
