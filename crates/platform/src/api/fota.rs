//! The API's DFOTA routes (docs/api.md, seed 002 §5.1.4–5.1.6, §5.2.2–5.2.6): the manufacturers'
//! public keys, signed package uploads, and upgrade tasks with each device's upgrade.
//!
//! A package is uploaded as the signed zip itself (`Content-Type: application/zip`, up to
//! [`MAX_UPLOAD`], a limit of its own above the JSON one) with the upload form's metadata as query
//! parameters; [`crate::ctiot::upload`] checks it. Listings never carry a package's bytes.

use super::routes::added_or_replaced;
use super::{Api, ApiError};
use crate::ctiot::admin::NewTask;
use crate::ctiot::fota::{Package, Task, Upgrade, UpgradeStatus};
use crate::ctiot::keys::ManufacturerKey;
use crate::ctiot::upload::SignedUpload;
use crate::ctiot::{AdminError, Flavour};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use nbmodem_net::udp::lock;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The largest upload: a signed archive of the largest package a module's flash takes (a few
/// hundred KiB) many times over.
pub const MAX_UPLOAD: usize = 8 * 1024 * 1024;

/// The media types an upload may have.
const ZIP_TYPES: [&str; 2] = ["application/zip", "application/octet-stream"];

type Created<T> = Result<(StatusCode, Json<T>), ApiError>;

pub(super) fn routes() -> Router<Api> {
    Router::new()
        .route(
            "/api/{flavour}/fota/keys",
            get(keys).post(add_key).put(add_key),
        )
        .route(
            "/api/{flavour}/fota/keys/{manufacturer}",
            delete(remove_key),
        )
        .route(
            "/api/{flavour}/fota/packages",
            get(packages)
                .post(upload)
                .layer(DefaultBodyLimit::max(MAX_UPLOAD)),
        )
        .route("/api/{flavour}/fota/packages/{id}", get(package))
        .route("/api/{flavour}/fota/tasks", get(tasks).post(add_task))
        .route("/api/{flavour}/fota/tasks/{id}", get(task))
        .route("/api/{flavour}/fota/tasks/{id}/start", post(start_task))
}

#[derive(Debug, Serialize)]
struct Keys {
    keys: Vec<ManufacturerKey>,
}

async fn keys(State(api): State<Api>, Path(flavour): Path<Flavour>) -> Json<Keys> {
    let keys = lock(&api.state).manufacturer_keys(flavour);
    Json(Keys { keys })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewKey {
    manufacturer: String,
    /// PEM, `-----BEGIN PUBLIC KEY-----` (what `nbmodem fota keygen` writes to public.pem).
    public_key: String,
}

async fn add_key(
    State(api): State<Api>,
    Path(flavour): Path<Flavour>,
    Json(new): Json<NewKey>,
) -> Created<ManufacturerKey> {
    let known = lock(&api.state)
        .manufacturer_key(flavour, &new.manufacturer)
        .is_some();
    let key = api
        .change(|admin| admin.add_key(flavour, &new.manufacturer, &new.public_key))
        .await?;
    Ok((added_or_replaced(known), Json(key)))
}

async fn remove_key(
    State(api): State<Api>,
    Path((flavour, manufacturer)): Path<(Flavour, String)>,
) -> Result<Json<ManufacturerKey>, ApiError> {
    let key = api
        .change(|admin| admin.remove_key(flavour, &manufacturer))
        .await?;
    Ok(Json(key))
}

/// A package as the API shows it: its metadata, and the SHA-256 of its `.bin`.
#[derive(Debug, Serialize)]
struct PackageView {
    #[serde(flatten)]
    package: Package,
    /// The revision it installs (its `version`), named as `nbmodem fota verify` names it.
    target: String,
    sha256: String,
}

impl From<Package> for PackageView {
    fn from(package: Package) -> Self {
        let sha256 = nbmodem_fota::signing::hex(&nbmodem_fota::signing::sha256(&package.bytes));
        PackageView {
            target: package.version.clone(),
            sha256,
            package,
        }
    }
}

#[derive(Debug, Serialize)]
struct Packages {
    packages: Vec<PackageView>,
}

async fn packages(State(api): State<Api>, Path(flavour): Path<Flavour>) -> Json<Packages> {
    let packages = lock(&api.state).packages(flavour);
    let packages = packages.into_iter().map(PackageView::from).collect();
    Json(Packages { packages })
}

async fn package(
    State(api): State<Api>,
    Path((flavour, id)): Path<(Flavour, String)>,
) -> Result<Json<PackageView>, ApiError> {
    let package = lock(&api.state).package(flavour, &id).cloned();
    let package = package.ok_or(AdminError::NoSuchPackage(flavour, id))?;
    Ok(Json(package.into()))
}

/// The upload form's fields (seed 002 §5.1.5), as query parameters.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UploadQuery {
    id: Option<String>,
    version: String,
    manufacturer: String,
    device_type: String,
    model: String,
    protocol: String,
    product: String,
}

async fn upload(
    State(api): State<Api>,
    Path(flavour): Path<Flavour>,
    Query(form): Query<UploadQuery>,
    headers: HeaderMap,
    zip: Bytes,
) -> Created<PackageView> {
    let media = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok());
    if !media.is_some_and(|m| ZIP_TYPES.iter().any(|t| m.starts_with(t))) {
        let why = "the body must be the signed zip, with Content-Type: application/zip";
        return Err(ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, why));
    }
    let upload = SignedUpload {
        id: form.id,
        zip: zip.to_vec(),
        version: form.version,
        manufacturer: form.manufacturer,
        device_type: form.device_type,
        model: form.model,
        protocol: form.protocol,
        product: form.product,
    };
    // 201 even when it replaces a package of the same id: the upload made a new package.
    let package = api
        .change(|admin| admin.upload_package(flavour, upload))
        .await?;
    Ok((StatusCode::CREATED, Json(package.into())))
}

/// A task with each device's upgrade (status, attempts, result, history) and how many are in
/// each status.
#[derive(Debug, Serialize)]
struct TaskView {
    #[serde(flatten)]
    task: Task,
    statuses: BTreeMap<&'static str, usize>,
    upgrades: Vec<Upgrade>,
}

impl Api {
    fn task_view(&self, task: Task) -> TaskView {
        let upgrades = lock(&self.state).upgrades(task.flavour, &task.id);
        let statuses = UpgradeStatus::ALL
            .iter()
            .map(|s| {
                (
                    s.as_str(),
                    upgrades.iter().filter(|u| u.status == *s).count(),
                )
            })
            .collect();
        TaskView {
            task,
            statuses,
            upgrades,
        }
    }
}

#[derive(Debug, Serialize)]
struct Tasks {
    tasks: Vec<TaskView>,
}

async fn tasks(State(api): State<Api>, Path(flavour): Path<Flavour>) -> Json<Tasks> {
    let tasks = lock(&api.state).tasks(flavour);
    let tasks = tasks.into_iter().map(|t| api.task_view(t)).collect();
    Json(Tasks { tasks })
}

async fn task(
    State(api): State<Api>,
    Path((flavour, id)): Path<(Flavour, String)>,
) -> Result<Json<TaskView>, ApiError> {
    let task = lock(&api.state).task(flavour, &id).cloned();
    let task = task.ok_or(AdminError::NoSuchTask(flavour, id))?;
    Ok(Json(api.task_view(task)))
}

async fn add_task(
    State(api): State<Api>,
    Path(flavour): Path<Flavour>,
    Json(new): Json<NewTask>,
) -> Created<TaskView> {
    let task = api.change(|admin| admin.create_task(flavour, new)).await?;
    Ok((StatusCode::CREATED, Json(api.task_view(task))))
}

/// Starts a task (AEP's "立即启动"; a batch task started when it was created).
async fn start_task(
    State(api): State<Api>,
    Path((flavour, id)): Path<(Flavour, String)>,
) -> Result<Json<TaskView>, ApiError> {
    let task = api.change(|admin| admin.start_task(flavour, &id)).await?;
    Ok(Json(api.task_view(task)))
}
