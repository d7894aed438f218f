//! LwM2M 1.0 for nbmodem.

pub mod content;
