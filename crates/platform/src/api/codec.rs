//! The API's routes for products' codecs (seed 002 §4.1.1; docs/api.md "Codecs and commands"):
//! a product's codec, commands for a device (encoded by its product's codec, followed until the
//! device answers), and online debugging — an uplink or a command through a product's codec
//! with no module at all (在线调测).
//!
//! A plug-in runs within its work and memory bounds (`nbmodem_codec::ScriptLimits`), off the
//! runtime's threads: a slow plug-in delays only its own request.

use super::routes::added_or_replaced;
use super::{Api, ApiError};
use crate::ctiot::admin::NewCommand;
use crate::ctiot::codec::{self, Decoding};
use crate::ctiot::{CodecChoice, CommandCall, Downlink, Flavour, Product};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::routing::{post, put};
use axum::{Json, Router};
use nbmodem_clock::{Clock, RealClock};
use nbmodem_codec::{Codec, Command, ScriptLimits};
use nbmodem_net::udp::lock;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// The largest codec request: a plug-in's largest script, with room for the JSON around it.
const MAX_CODEC_BODY: usize = 2 * 1024 * 1024;

pub(super) fn routes() -> Router<Api> {
    let script_sized =
        || DefaultBodyLimit::max(MAX_CODEC_BODY.max(ScriptLimits::default().source_bytes));
    Router::new()
        .route(
            "/api/{flavour}/products/{id}/codec",
            put(set_codec).layer(script_sized()),
        )
        .route(
            "/api/{flavour}/devices/{imei}/commands",
            post(queue_command),
        )
        .route(
            "/api/{flavour}/products/{id}/debug/uplink",
            post(debug_uplink),
        )
        .route(
            "/api/{flavour}/products/{id}/debug/command",
            post(debug_command),
        )
}

/// `PUT …/products/{id}/codec`: the product's codec, its profile kept.
async fn set_codec(
    State(api): State<Api>,
    Path((flavour, id)): Path<(Flavour, String)>,
    Json(codec): Json<CodecChoice>,
) -> Result<(StatusCode, Json<Product>), ApiError> {
    let product = api
        .change(|admin| admin.set_codec(flavour, &id, codec))
        .await?;
    Ok((added_or_replaced(true), Json(product)))
}

/// `POST …/devices/{imei}/commands`: queued as a downlink carrying the command.
async fn queue_command(
    State(api): State<Api>,
    Path((flavour, imei)): Path<(Flavour, String)>,
    Json(call): Json<NewCommand>,
) -> Result<(StatusCode, Json<Downlink>), ApiError> {
    api.device(flavour, &imei)?;
    let now = RealClock.now();
    let downlink = api
        .change(|admin| admin.queue_command(now, flavour, &imei, call))
        .await?;
    Ok((StatusCode::ACCEPTED, Json(downlink)))
}

/// An uplink for online debugging: its bytes in hex, or (with a compact codec) a service's
/// properties to encode as the device would.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DebugUplink {
    #[serde(default)]
    hex: Option<String>,
    #[serde(default)]
    service: Option<String>,
    #[serde(default)]
    properties: Option<Value>,
}

/// `POST …/products/{id}/debug/uplink`: what the product's codec makes of an uplink.
async fn debug_uplink(
    State(api): State<Api>,
    Path((flavour, id)): Path<(Flavour, String)>,
    Json(uplink): Json<DebugUplink>,
) -> Result<Json<Value>, ApiError> {
    let codec = api.product_codec(flavour, &id)?;
    off_runtime(move || {
        let bytes = uplink_bytes(&codec, uplink)?;
        let Decoding { decoded, error, .. } = codec::decode(&codec, &bytes, &[]);
        let mut answer = json!({"hex": nbmodem_codec::model::hex_string(&bytes)});
        match (decoded, error) {
            (Some(decoded), _) => answer["decoded"] = decoded,
            (None, Some(error)) => answer["error"] = json!(error),
            (None, None) => answer["error"] = json!(no_codec(&id)),
        }
        Ok(Json(answer))
    })
    .await
}

/// The bytes of a debugging uplink.
fn uplink_bytes(codec: &Codec, uplink: DebugUplink) -> Result<Vec<u8>, ApiError> {
    let bad = |reason: String| ApiError::new(StatusCode::BAD_REQUEST, reason);
    match (uplink.hex, uplink.service, uplink.properties) {
        (Some(hex), None, None) => {
            nbmodem_codec::model::hex_bytes(&hex).map_err(|e| bad(format!("hex: {e}")))
        }
        (None, Some(service), Some(properties)) => match codec {
            Codec::Compact(compact) => compact
                .encode_report(&service, &properties)
                .map_err(|e| bad(e.to_string())),
            _ => Err(bad(
                "properties can be encoded by a compact codec only: give the uplink's hex".into(),
            )),
        },
        _ => Err(bad(
            "give either `hex`, or `service` and `properties`".into()
        )),
    }
}

/// `POST …/products/{id}/debug/command`: the bytes the product's codec makes of a command.
async fn debug_command(
    State(api): State<Api>,
    Path((flavour, id)): Path<(Flavour, String)>,
    Json(call): Json<NewCommand>,
) -> Result<Json<Value>, ApiError> {
    let codec = api.product_codec(flavour, &id)?;
    off_runtime(move || {
        let call = CommandCall {
            service: call.service,
            command: call.command,
            params: call.params,
            mid: 1,
        };
        let command: Command = codec::command(&call);
        Ok(Json(match codec.encode_command(&command) {
            Ok(bytes) => json!({"hex": nbmodem_codec::model::hex_string(&bytes), "mid": call.mid}),
            Err(e) => json!({"error": e.to_string()}),
        }))
    })
    .await
}

fn no_codec(product: &str) -> String {
    format!("product {product} has no codec (pass-through): its uplinks are kept as bytes")
}

impl Api {
    /// A product's codec, compiled; 404 for an unknown product, 400 when its codec does not load.
    fn product_codec(&self, flavour: Flavour, id: &str) -> Result<Arc<Codec>, ApiError> {
        match lock(&self.state).codec(flavour, id) {
            Some(Ok(codec)) => Ok(codec),
            Some(Err(reason)) => Err(ApiError::new(StatusCode::BAD_REQUEST, reason)),
            None => Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!("no product {id} on the {flavour} platform"),
            )),
        }
    }
}

/// Runs `work` (a plug-in, perhaps) on a blocking thread.
async fn off_runtime<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
}
