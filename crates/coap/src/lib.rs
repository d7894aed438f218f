//! CoAP for nbmodem: RFC 7252 messaging with RFC 7641 Observe and RFC 7959 block-wise transfer,
//! for clients and servers, as a sans-IO state machine ([`Endpoint`]) on the coap-lite codec.
//!
//! - [`describe`]: a datagram told field by field, for traces.
//! - [`params`]: transmission parameters (ACK_TIMEOUT, ACK_RANDOM_FACTOR, MAX_RETRANSMIT).
//! - [`message`]: requests and responses as the application sees them.
//! - [`Endpoint`]: the state machine; `endpoint.rs` is the message layer, `client.rs` and
//!   `server.rs` the two sides of the request/response layer, `block.rs` block-wise bodies,
//!   `timer_set.rs` the endpoint's timers.

mod block;
mod client;
pub mod describe;
mod endpoint;
pub mod message;
pub mod params;
mod server;
mod timer_set;

pub use endpoint::{
    CancelReason, Endpoint, EndpointConfig, Event, ExchangeError, IncomingId, ObservationId,
    RequestId, MAX_SEQUENCE, MAX_TOKEN,
};
pub use message::{Method, Request, Response, Status};
pub use nbmodem_net::{DatagramNode, Transmit};
pub use params::TransmissionParams;
pub use server::SavedObservation;
