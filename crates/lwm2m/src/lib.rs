//! LwM2M 1.0 for nbmodem, usable on the module side and on the platform side.
//!
//! - [`content`]: the content formats (text, opaque, link format, TLV, SenML JSON read).
//! - [`kind`]: which LwM2M operation a CoAP request is.
//! - [`object`]: the client's object model and how operations map onto it.
//! - [`client`]: the client engine (register, update, deregister; serve Read/Write/Execute/Observe/
//!   Discover), sans-IO on a CoAP endpoint.
//! - [`server`]: the server core (registration store, lifetimes, server-initiated operations, queue
//!   mode), sans-IO on a CoAP endpoint.

pub mod client;
pub mod content;
pub mod kind;
pub mod object;
pub mod server;
