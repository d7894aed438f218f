//! The API's routes for a device's object tree (docs/api.md "Operations on a device"): the
//! objects it registered with, and Read, Write, Execute, Observe and Cancel on a path, queued for
//! its next contact and followed to its answer, as the console's tree asks them.

use super::{Api, ApiError};
use crate::ctiot::operation::{DeviceOperation, NewOperation};
use crate::ctiot::Flavour;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use nbmodem_clock::{Clock, RealClock};
use nbmodem_net::udp::lock;
use serde::Serialize;

pub(super) fn routes() -> Router<Api> {
    Router::new()
        .route(
            "/api/{flavour}/devices/{imei}/operations",
            get(operations).post(add_operation),
        )
        .route("/api/{flavour}/devices/{imei}/objects", get(objects))
}

#[derive(Debug, Serialize)]
struct Operations {
    operations: Vec<DeviceOperation>,
}

async fn operations(
    State(api): State<Api>,
    Path((flavour, imei)): Path<(Flavour, String)>,
) -> Result<Json<Operations>, ApiError> {
    api.device(flavour, &imei)?;
    let operations = lock(&api.state).operations(flavour, &imei);
    Ok(Json(Operations { operations }))
}

/// `POST …/operations`: queued until the device's next contact.
async fn add_operation(
    State(api): State<Api>,
    Path((flavour, imei)): Path<(Flavour, String)>,
    Json(new): Json<NewOperation>,
) -> Result<(StatusCode, Json<DeviceOperation>), ApiError> {
    api.device(flavour, &imei)?;
    let now = RealClock.now().unix_millis();
    let operation = new
        .queued(flavour, &imei, now)
        .map_err(|reason| ApiError::new(StatusCode::BAD_REQUEST, reason))?;
    let added = lock(&api.state).add_operation(operation);
    Ok((StatusCode::ACCEPTED, Json(added)))
}

#[derive(Debug, Serialize)]
struct Objects {
    /// None while the device is not registered.
    objects: Option<Vec<String>>,
}

/// `GET …/objects`: the objects and instances the device registered with.
async fn objects(
    State(api): State<Api>,
    Path((flavour, imei)): Path<(Flavour, String)>,
) -> Result<Json<Objects>, ApiError> {
    api.device(flavour, &imei)?;
    let mut objects = None;
    api.nodes.with_nodes(flavour, &mut |node| {
        objects = objects.take().or_else(|| node.objects(&imei));
    });
    Ok(Json(Objects { objects }))
}
