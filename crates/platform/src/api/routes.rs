//! The API's routes and their handlers (docs/api.md lists them with examples).

use super::{Api, ApiError};
use crate::ctiot::admin::{check_imei, NewDevice};
use crate::ctiot::state::Presence;
use crate::ctiot::{CodecChoice, Device, Downlink, Flavour, Product, Uplink};
use crate::fault::{Fault, Faults, Faulty};
use crate::writer::StorageReport;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use nbmodem_clock::{format_duration, Clock, Instant, RealClock};
use nbmodem_net::udp::lock;
use serde::{Deserialize, Serialize};

/// The uplinks a page holds unless the query says otherwise, and at most.
const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 1000;

type Answer<T> = Result<Json<T>, ApiError>;

pub(super) fn routes() -> Router<Api> {
    Router::new()
        .route("/api/{flavour}/devices", get(devices).post(add_device))
        .route(
            "/api/{flavour}/devices/{imei}",
            get(device).delete(remove_device),
        )
        .route("/api/{flavour}/devices/{imei}/uplinks", get(uplinks))
        .route(
            "/api/{flavour}/devices/{imei}/downlinks",
            get(downlinks).post(queue_downlink),
        )
        .route("/api/downlinks/{id}", get(downlink))
        .route("/api/{flavour}/products", get(products).post(add_product))
        .route(
            "/api/{flavour}/faults",
            get(faults).post(set_faults).delete(clear_faults),
        )
        .route("/api/storage", get(storage))
}

/// How the database's writers fare: failed commits, requests refused meanwhile, records left
/// out or removed.
async fn storage(State(api): State<Api>) -> Json<StorageReport> {
    Json(api.storage.report())
}

/// A device with what the platform knows of it now.
#[derive(Debug, Serialize)]
struct DeviceView {
    #[serde(flatten)]
    device: Device,
    state: DeviceState,
}

#[derive(Debug, Serialize)]
struct DeviceState {
    #[serde(flatten)]
    presence: Presence,
    /// When it last sent anything, in ISO 8601.
    #[serde(skip_serializing_if = "Option::is_none")]
    last_seen: Option<String>,
    /// Downlinks waiting to be sent.
    queued_downlinks: usize,
}

#[derive(Debug, Serialize)]
struct Devices {
    devices: Vec<DeviceView>,
}

impl Api {
    fn view(&self, device: Device) -> DeviceView {
        let state = lock(&self.state);
        let presence = state.presence(device.flavour, &device.imei);
        let queued_downlinks = state.queued(device.flavour, &device.imei).len();
        DeviceView {
            state: DeviceState {
                last_seen: presence
                    .last_seen_ms
                    .map(|ms| Instant::from_unix_millis(ms).iso8601()),
                presence,
                queued_downlinks,
            },
            device,
        }
    }

    /// The device the path names: 400 for what cannot be an IMEI, 404 for one not registered.
    pub(super) fn device(&self, flavour: Flavour, imei: &str) -> Result<Device, ApiError> {
        check_imei(imei)?;
        lock(&self.state)
            .device(flavour, imei)
            .cloned()
            .ok_or_else(|| crate::ctiot::AdminError::NoSuchDevice(flavour, imei.into()).into())
    }
}

async fn devices(State(api): State<Api>, Path(flavour): Path<Flavour>) -> Json<Devices> {
    let devices = lock(&api.state).devices(flavour);
    let devices = devices.into_iter().map(|d| api.view(d)).collect();
    Json(Devices { devices })
}

async fn add_device(
    State(api): State<Api>,
    Path(flavour): Path<Flavour>,
    Json(new): Json<NewDevice>,
) -> Result<(StatusCode, Json<DeviceView>), ApiError> {
    let known = lock(&api.state).device(flavour, &new.imei).is_some();
    let device = api.change(|admin| admin.add_device(flavour, new)).await?;
    Ok((added_or_replaced(known), Json(api.view(device))))
}

/// 200 for what replaced one `known` before, 201 for what is new.
pub(super) fn added_or_replaced(known: bool) -> StatusCode {
    match known {
        true => StatusCode::OK,
        false => StatusCode::CREATED,
    }
}

async fn device(
    State(api): State<Api>,
    Path((flavour, imei)): Path<(Flavour, String)>,
) -> Answer<DeviceView> {
    Ok(Json(api.view(api.device(flavour, &imei)?)))
}

async fn remove_device(
    State(api): State<Api>,
    Path((flavour, imei)): Path<(Flavour, String)>,
) -> Answer<Device> {
    let device = api.device(flavour, &imei)?;
    api.change(|admin| admin.remove_device(flavour, &imei))
        .await?;
    Ok(Json(device))
}

/// Which page of uplinks: the `next` of the page before (none: the newest), and how many.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PageQuery {
    cursor: Option<i64>,
    limit: Option<usize>,
}

#[derive(Debug, Serialize)]
struct UplinkPage {
    uplinks: Vec<Uplink>,
    /// The cursor of the next (older) page; none when this is the last.
    next: Option<i64>,
}

async fn uplinks(
    State(api): State<Api>,
    Path((flavour, imei)): Path<(Flavour, String)>,
    Query(page): Query<PageQuery>,
) -> Answer<UplinkPage> {
    api.device(flavour, &imei)?;
    let limit = page.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        let why = format!("the limit must be 1 to {MAX_PAGE}");
        return Err(ApiError::new(StatusCode::BAD_REQUEST, why));
    }
    // One more than asked for tells whether there is a next page.
    let mut uplinks = api
        .query(move |store| store.uplinks(flavour, &imei, page.cursor, limit + 1))
        .await?;
    let more = uplinks.len() > limit;
    uplinks.truncate(limit);
    let next = uplinks.last().map(|u| u.id).filter(|_| more);
    Ok(Json(UplinkPage { uplinks, next }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewDownlink {
    /// The data, in hex.
    data: String,
}

async fn queue_downlink(
    State(api): State<Api>,
    Path((flavour, imei)): Path<(Flavour, String)>,
    Json(new): Json<NewDownlink>,
) -> Result<(StatusCode, Json<Downlink>), ApiError> {
    api.device(flavour, &imei)?;
    let now = RealClock.now();
    let downlink = api
        .change(|admin| admin.queue_downlink(now, flavour, &imei, &new.data))
        .await?;
    Ok((StatusCode::ACCEPTED, Json(downlink)))
}

#[derive(Debug, Serialize)]
struct Downlinks {
    downlinks: Vec<Downlink>,
}

async fn downlinks(
    State(api): State<Api>,
    Path((flavour, imei)): Path<(Flavour, String)>,
) -> Answer<Downlinks> {
    api.device(flavour, &imei)?;
    let downlinks = api
        .query(move |store| store.downlinks(Some((flavour, &imei))))
        .await?;
    Ok(Json(Downlinks { downlinks }))
}

async fn downlink(State(api): State<Api>, Path(id): Path<u64>) -> Answer<Downlink> {
    api.query(move |store| store.downlink(id))
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no downlink {id}")))
}

#[derive(Debug, Serialize)]
struct Products {
    products: Vec<Product>,
}

async fn products(State(api): State<Api>, Path(flavour): Path<Flavour>) -> Json<Products> {
    let products = lock(&api.state).products(flavour);
    Json(Products { products })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewProduct {
    id: String,
    /// The profile document (seed 002 §5.1.2).
    profile: serde_json::Value,
    /// Pass-through unless given.
    #[serde(default)]
    codec: CodecChoice,
}

async fn add_product(
    State(api): State<Api>,
    Path(flavour): Path<Flavour>,
    Json(new): Json<NewProduct>,
) -> Result<(StatusCode, Json<Product>), ApiError> {
    let known = lock(&api.state).product(flavour, &new.id).is_some();
    let product = api
        .change(|admin| admin.add_product(flavour, &new.id, new.profile, new.codec))
        .await?;
    Ok((added_or_replaced(known), Json(product)))
}

/// The faults in force on a platform, and a change of them: the counts left, the delay.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FaultSettings {
    #[serde(skip_serializing_if = "Option::is_none")]
    drop: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reject: Option<u32>,
    /// `5s`, `1m30s`, `0s` (at most `24h`).
    #[serde(skip_serializing_if = "Option::is_none")]
    delay: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reset: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    noack: Option<u32>,
}

impl FaultSettings {
    /// The faults a change sets, each checked as `--fault` checks it.
    pub(super) fn faults(&self) -> Result<Vec<Fault>, ApiError> {
        let counts = [
            self.drop.map(Fault::Drop),
            self.reject.map(Fault::Reject),
            self.reset.map(Fault::Reset),
            self.noack.map(Fault::NoAck),
        ];
        let delay = self
            .delay
            .as_ref()
            .map(|d| format!("delay={d}").parse::<Fault>())
            .transpose()
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.to_string()))?;
        let faults: Vec<Fault> = counts.into_iter().chain([delay]).flatten().collect();
        if faults.is_empty() {
            let why = "no fault given: drop, reject, delay, reset or noack";
            return Err(ApiError::new(StatusCode::BAD_REQUEST, why));
        }
        Ok(faults)
    }
}

impl From<Faults> for FaultSettings {
    fn from(faults: Faults) -> Self {
        FaultSettings {
            drop: Some(faults.drop),
            reject: Some(faults.reject),
            delay: Some(format_duration(faults.delay)),
            reset: Some(faults.reset),
            noack: Some(faults.noack),
        }
    }
}

impl Api {
    fn faults_of(&self, flavour: Flavour) -> FaultSettings {
        FaultSettings::from(lock(&self.state).faults(flavour))
    }
}

async fn faults(State(api): State<Api>, Path(flavour): Path<Flavour>) -> Json<FaultSettings> {
    Json(api.faults_of(flavour))
}

/// Sets the faults given, leaving the others as they are.
async fn set_faults(
    State(api): State<Api>,
    Path(flavour): Path<Flavour>,
    Json(change): Json<FaultSettings>,
) -> Answer<FaultSettings> {
    for fault in change.faults()? {
        api.nodes
            .with_nodes(flavour, &mut |node| node.set_fault(fault));
    }
    Ok(Json(api.faults_of(flavour)))
}

async fn clear_faults(State(api): State<Api>, Path(flavour): Path<Flavour>) -> Json<FaultSettings> {
    api.nodes
        .with_nodes(flavour, &mut |node| node.clear_faults());
    Json(api.faults_of(flavour))
}
