//! Codecs of the stand-in IoT platforms' products (issue 19; seed 002 §4.1.1): a product has a
//! model ([`model`], the services of its Profile) and a [`Codec`] that turns a device's bytes into
//! JSON named by that model and the platform's commands into bytes — pass-through (bytes stay
//! bytes), CTWing's compact binary codec ([`compact`]), or a JavaScript plug-in the user uploads
//! ([`script`], run sandboxed). Every decoded value and every command is checked against the
//! model. Pure functions of their input: no I/O, no clock.

pub mod compact;
pub mod model;
pub mod script;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use compact::CompactCodec;
pub use model::{DataType, Field, ProductModel};
pub use script::{ScriptFailure, ScriptLimits, ScriptPlugin};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CodecError {
    #[error("bad product model: {0}")]
    Model(String),
    #[error("{field}: {reason}")]
    Value { field: String, reason: String },
    #[error("the model has no service {0}")]
    UnknownService(String),
    #[error("service {service} has no command {command}")]
    UnknownCommand { service: String, command: String },
    #[error("malformed message: {0}")]
    Malformed(String),
    #[error("no command with id {0} is waiting for this response")]
    UnmatchedResponse(u16),
    #[error("a pass-through product has no decoded commands or responses: its messages are bytes")]
    PassThrough,
    #[error("codec plug-in: {kind}: {reason}")]
    Script { kind: ScriptFailure, reason: String },
}

/// A command for a device: which service's command, its parameters, and the message id that
/// its response carries back (the plug-ins' `mid`, the compact codec's task id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Command {
    pub service_id: String,
    pub command: String,
    pub params: Value,
    pub id: u16,
}

/// A device's answer to a command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandResponse {
    /// The id of the command it answers.
    pub id: u16,
    pub service_id: String,
    pub command: String,
    /// The plug-in's `errcode` (0: success); the compact codec carries none.
    pub errcode: Option<i64>,
    /// The response's parameters, checked against the command's response in the model.
    pub result: Value,
}

/// One service's data in a report, checked against its properties.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceData {
    pub service_id: String,
    pub data: Value,
    /// The time the device gave the data, when it gave one (a plug-in's `eventTime`).
    pub event_time: Option<String>,
}

/// What an uplink turned out to be.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum DecodedUplink {
    /// A pass-through product's uplink: the bytes are the message; there is no decoded form.
    Raw,
    /// Data reported by the device. `has_more`: the device said more reports follow.
    Report {
        has_more: bool,
        services: Vec<ServiceData>,
    },
    /// The device's answer to a command.
    Response(CommandResponse),
}

/// A product's codec.
#[derive(Debug, Clone, Default)]
pub enum Codec {
    #[default]
    PassThrough,
    Compact(CompactCodec),
    Script(ScriptPlugin),
}

impl Codec {
    /// Decodes a device's uplink: a report, or a response to one of the `pending` commands (a
    /// platform cannot tell them apart before decoding).
    pub fn decode_uplink(
        &self,
        bytes: &[u8],
        pending: &[Command],
    ) -> Result<DecodedUplink, CodecError> {
        match self {
            Self::PassThrough => Ok(DecodedUplink::Raw),
            Self::Compact(codec) => codec.decode_uplink(bytes, pending),
            Self::Script(plugin) => plugin.decode_uplink(bytes, pending),
        }
    }

    /// Encodes a command for its device, after checking it against the model.
    pub fn encode_command(&self, command: &Command) -> Result<Vec<u8>, CodecError> {
        match self {
            Self::PassThrough => Err(CodecError::PassThrough),
            Self::Compact(codec) => codec.encode_command(command),
            Self::Script(plugin) => plugin.encode_command(command),
        }
    }

    /// Decodes an uplink that must be a response to one of the `pending` commands.
    pub fn decode_response(
        &self,
        bytes: &[u8],
        pending: &[Command],
    ) -> Result<CommandResponse, CodecError> {
        match self.decode_uplink(bytes, pending)? {
            DecodedUplink::Response(response) => Ok(response),
            DecodedUplink::Raw => Err(CodecError::PassThrough),
            DecodedUplink::Report { .. } => Err(CodecError::Malformed(
                "a data report where a command response was expected".into(),
            )),
        }
    }
}

/// Finds the pending command a response answers: same id, and the same service and command.
fn match_pending<'c>(
    response: &CommandResponse,
    pending: &'c [Command],
) -> Result<&'c Command, CodecError> {
    let command = pending
        .iter()
        .find(|c| c.id == response.id)
        .ok_or(CodecError::UnmatchedResponse(response.id))?;
    if command.service_id != response.service_id || command.command != response.command {
        return Err(CodecError::Malformed(format!(
            "response {} names {}.{}, but command {} was {}.{}",
            response.id,
            response.service_id,
            response.command,
            command.id,
            command.service_id,
            command.command
        )));
    }
    Ok(command)
}
