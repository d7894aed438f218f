//! What the platforms do with a product's codec (seed 002 §4.1.1; `nbmodem-codec`): compile it
//! once when the product is put, decode each uplink of its devices (a report, or a device's
//! response to a command, matched by the command's id), and say what was made of it in the
//! JSON the API shows. A codec that fails on an uplink is that uplink's `decode_error`, never a
//! lost uplink: the bytes are stored either way.

use super::{CodecChoice, CommandCall, Downlink, DownlinkStatus, Product};
use nbmodem_codec::{
    Codec, CodecError, Command, CommandResponse, CompactCodec, DecodedUplink, ProductModel,
    ScriptPlugin,
};
use serde_json::{json, Map, Value};

/// The product's codec, ready to run: its services' model read from the profile, its plug-in
/// loaded and checked. Pass-through needs no model.
pub fn compile(product: &Product) -> Result<Codec, CodecError> {
    let model = || ProductModel::from_profile(&product.profile);
    Ok(match &product.codec {
        CodecChoice::PassThrough => Codec::PassThrough,
        CodecChoice::Compact => Codec::Compact(CompactCodec::new(model()?)?),
        CodecChoice::Script { script } => Codec::Script(ScriptPlugin::load(script, model()?)?),
    })
}

/// What a codec made of an uplink.
#[derive(Debug, Default, PartialEq)]
pub struct Decoding {
    /// The decoded form the API shows (none for pass-through, or when decoding failed).
    pub decoded: Option<Value>,
    pub error: Option<String>,
    /// The device's response to a command waiting for one.
    pub answer: Option<CommandResponse>,
}

/// Decodes `bytes` with `codec`; `waiting` are the device's commands that wait for a response.
pub fn decode(codec: &Codec, bytes: &[u8], waiting: &[Command]) -> Decoding {
    match codec.decode_uplink(bytes, waiting) {
        Ok(DecodedUplink::Raw) => Decoding::default(),
        Ok(DecodedUplink::Report { has_more, services }) => {
            let services: Vec<Value> = services
                .into_iter()
                .map(|service| {
                    let mut entry = Map::new();
                    entry.insert("serviceId".into(), json!(service.service_id));
                    entry.insert("data".into(), service.data);
                    if let Some(time) = service.event_time {
                        entry.insert("eventTime".into(), json!(time));
                    }
                    Value::Object(entry)
                })
                .collect();
            let decoded = json!({"type": "report", "hasMore": has_more, "services": services});
            Decoding {
                decoded: Some(decoded),
                ..Decoding::default()
            }
        }
        Ok(DecodedUplink::Response(answer)) => Decoding {
            decoded: Some(response_json(&answer)),
            answer: Some(answer),
            error: None,
        },
        Err(e) => Decoding {
            error: Some(e.to_string()),
            ..Decoding::default()
        },
    }
}

/// A device's response as the API shows it.
pub fn response_json(answer: &CommandResponse) -> Value {
    json!({
        "type": "response",
        "mid": answer.id,
        "serviceId": answer.service_id,
        "command": answer.command,
        "errcode": answer.errcode,
        "result": answer.result,
    })
}

/// The command a codec encodes for a call.
pub fn command(call: &CommandCall) -> Command {
    Command {
        service_id: call.service.clone(),
        command: call.command.clone(),
        params: call.params.clone(),
        id: call.mid,
    }
}

/// The commands among a device's pending downlinks that may be answered now: sent or delivered,
/// not answered yet.
pub fn waiting<'d>(downlinks: impl IntoIterator<Item = &'d Downlink>) -> Vec<(u64, Command)> {
    downlinks
        .into_iter()
        .filter(|d| matches!(d.status, DownlinkStatus::Sent | DownlinkStatus::Delivered))
        .filter_map(|d| Some((d.id, command(d.command.as_ref()?))))
        .collect()
}

/// The message id a command with downlink id `id` carries: the id's low 16 bits, as the
/// plug-ins' `mid` and the compact codec's task id have two bytes.
pub fn mid_of(id: u64) -> u16 {
    (id & 0xFFFF) as u16
}
