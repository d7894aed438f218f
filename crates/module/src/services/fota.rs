//! DFOTA on the BC260Y-CN (seed 002 chapter 5, protocols.md §5): the firmware download and
//! update behind LwM2M Object 5, as a service of its own on its own local port (XinYi opens a
//! separate UDP socket for the download).
//!
//! The CT IoT link owns Object 5 and passes on what the platform does to it ([`Message`]): a
//! package URI written to /5/0/1 starts the download, an Execute of /5/0/2 the update. This
//! service tells the link each change of state and result, and writes the `+QIND: "FOTA",…`
//! URCs of seed chapter 3:
//!
//! - the download is a Block2 GET of the URI, block by block ([`FotaConfig::block_size`]);
//!   each block is written to NVRAM as it comes, so a power cut resumes from the last stored
//!   block when the platform writes the same URI again;
//! - a downloaded package is checked (its digest, and that its source revision is the one
//!   installed) before it counts as downloaded;
//! - the update shows its progress steps, then installs the package's target revision and
//!   reboots; a power cut before that leaves the old firmware, with the update failed.
//!
//! Every failure leaves the old firmware in place and the module working.

use crate::nvram::{BlobChange, NvramEdit, Section};
use crate::profile::{Feature, FotaConfig, Profile};
use crate::radio::Rai;
use crate::revision::Revision;
use crate::routing::{split_host_port, Router};
use crate::service::{Effect, Env, Message, Service, Start};
use crate::services::firmware_object::FirmwareMessage;
use crate::services::self_registration::install_firmware;
use nbmodem_clock::Instant;
use nbmodem_coap::{Endpoint, EndpointConfig, Event, Request, RequestId, Status};
use nbmodem_fota::{DeltaPackage, PackageError, PackageHeader};
use nbmodem_net::Transmit;
use nbmodem_operators::ctiot::firmware::{result, state};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

/// The service's name in console notices.
const NAME: &str = "FOTA";

/// The firmware update as NVRAM keeps it: Object 5's state (0 idle, 1 downloading, 2
/// downloaded, 3 updating) and update result (0–9, protocols.md §5), and the package URI being
/// downloaded (a power cut resumes it when the platform writes the same URI again). The
/// package's bytes are a blob of their own ([`FOTA_PACKAGE`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FotaRecord {
    pub state: u8,
    pub result: u8,
    #[serde(default)]
    pub uri: Option<String>,
}

impl Section for FotaRecord {
    const NAME: &'static str = "fota";

    fn check(&self, _: &Profile) -> Result<(), String> {
        if self.state > 3 || self.result > 9 {
            return Err(format!(
                "{self:?}, but must have a state of 0 to 3 and a result of 0 to 9"
            ));
        }
        if self
            .uri
            .as_ref()
            .is_some_and(|uri| uri.len() > MAX_PACKAGE_URI)
        {
            return Err(format!(
                "`uri` is {:?}, but must be a package URI of at most {MAX_PACKAGE_URI} bytes",
                self.uri
            ));
        }
        Ok(())
    }
}

/// The longest package URI the firmware object takes (protocols.md §5: /5/0/1).
pub const MAX_PACKAGE_URI: usize = 255;

/// The name of the blob holding the firmware package downloaded so far.
pub const FOTA_PACKAGE: &str = "fota-package";

/// The `<err>` of `+QIND: "FOTA","DOWNLOAD",<err>` for a download that ended with `result`:
/// the seed's codes are 2, 4 and 9 (any bad URI); the failures it names no code for keep their
/// LwM2M result (5 integrity, 6 wrong source revision), as 2 and 4 do.
fn download_error(result: u8) -> u8 {
    match result {
        result::INVALID_URI | result::UNSUPPORTED_PROTOCOL => 9,
        other => other,
    }
}

/// `+QIND: "FOTA","END",<fota_err>` of a failed update.
const UPDATE_FAILED: u8 = 255;

/// The port of a package URI without one (CoAP's).
const DEFAULT_PORT: u16 = 5683;

/// Where the package is: the address to send to and the request for it.
#[derive(Debug, Clone, PartialEq)]
struct Source {
    to: SocketAddr,
    request: Request,
}

/// Reads a package URI: `coap://host[:port]/path[?query]`, the host a name or an address the
/// module can reach. The error is the update result: 9 for another scheme, 7 for anything else.
fn parse_uri(uri: &str, router: &Router) -> Result<Source, u8> {
    if uri.len() > MAX_PACKAGE_URI {
        return Err(result::INVALID_URI);
    }
    let Some((scheme, rest)) = uri.split_once("://") else {
        return Err(result::INVALID_URI);
    };
    if !scheme.eq_ignore_ascii_case("coap") {
        return Err(result::UNSUPPORTED_PROTOCOL);
    }
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (host, port) = split_host_port(authority).ok_or(result::INVALID_URI)?;
    let port = match port {
        Some(0) => return Err(result::INVALID_URI),
        Some(port) => port,
        None => DEFAULT_PORT,
    };
    let to = router
        .resolve_to_address(host, port)
        .map_err(|_| result::INVALID_URI)?;
    router.local_for(to).map_err(|_| result::INVALID_URI)?;
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let mut request = Request::get(path);
    request
        .query
        .extend(query.split('&').filter(|q| !q.is_empty()).map(String::from));
    Ok(Source { to, request })
}

/// The stored package cut to whole blocks: a block the power cut short is fetched again.
fn whole_blocks(mut package: Vec<u8>, block_size: usize) -> Vec<u8> {
    package.truncate(package.len() / block_size * block_size);
    package
}

/// An update running: the next progress step, when it is due, and the revision it installs.
#[derive(Debug, Clone)]
struct Update {
    step: usize,
    at: Instant,
    target: Option<String>,
}

pub struct Fota {
    /// The model's download settings, in its profile.
    config: &'static FotaConfig,
    /// The installed firmware revision.
    firmware: String,
    record: FotaRecord,
    /// The package's bytes stored so far (whole blocks).
    package: Vec<u8>,
    router: Router,
    /// The CoAP engine of the downloads: made when first needed (most modules never download),
    /// then kept, so that its message IDs and tokens go on as they would have.
    endpoint: Option<Box<Endpoint>>,
    /// The seed it is made with, drawn at start.
    seed: u64,
    download: Option<RequestId>,
    update: Option<Update>,
}

/// Starts the service at boot on firmware with the CT IoT link. A download the power cut is
/// idle again (resumed when the platform writes its URI again); an update it cut failed.
pub fn start(start: &Start<'_>, env: &mut Env<'_>) -> Option<Box<dyn Service>> {
    let config = &start.profile.ctiot.as_ref()?.fota;
    if !start
        .profile
        .has_feature(Feature::CtIot, &start.in_use.firmware)
    {
        return None;
    }
    let stored = start.store.read_blob(FOTA_PACKAGE).unwrap_or_default();
    let package = whole_blocks(stored, config.block_size);
    let mut fota = Fota {
        config,
        firmware: start.in_use.firmware.clone(),
        record: start.in_use.section().unwrap_or_default(),
        package,
        router: start.router.clone(),
        endpoint: None,
        seed: env.engine_seed(),
        download: None,
        update: None,
    };
    fota.after_power_cut(env);
    fota.tell(env);
    Some(Box::new(fota))
}

impl Fota {
    /// The download engine, made at first use.
    fn endpoint(&mut self) -> &mut Endpoint {
        let (config, seed) = (&self.config, self.seed);
        self.endpoint.get_or_insert_with(|| {
            Box::new(Endpoint::new(EndpointConfig {
                params: config.download.params(),
                seed,
                block_size: config.block_size,
                ..Default::default()
            }))
        })
    }

    /// The state and result of Object 5.
    pub fn state(&self) -> (u8, u8) {
        (self.record.state, self.record.result)
    }

    /// Bytes of the package stored so far.
    pub fn stored(&self) -> usize {
        self.package.len()
    }

    fn after_power_cut(&mut self, env: &mut Env) {
        match self.record.state {
            state::DOWNLOADING => {
                env.notice("the download was cut: it resumes when the platform asks again");
                self.set(state::IDLE, result::INITIAL, env);
            }
            state::UPDATING => {
                env.notice("the update was cut: the old firmware stays");
                self.set(state::DOWNLOADED, result::FAILED, env);
            }
            _ => {}
        }
    }

    /// Changes Object 5's state and result, saves them, and tells the link.
    fn set(&mut self, state: u8, result: u8, env: &mut Env) {
        self.record.state = state;
        self.record.result = result;
        env.effect(Effect::save(self.record.clone()));
        self.tell(env);
    }

    fn tell(&self, env: &mut Env) {
        env.effect(Effect::Message(Message::new(
            FirmwareMessage::FirmwareState {
                state: self.record.state,
                result: self.record.result,
            },
        )));
    }

    fn urc(env: &mut Env, text: &str) {
        env.effect(Effect::Urc(format!("+QIND: \"FOTA\",{text}")));
    }

    /// A package URI was written: downloads it, from the last stored block when it is the URI
    /// of the package stored so far.
    fn package_uri(&mut self, now: Instant, uri: &str, env: &mut Env) {
        if matches!(self.record.state, state::DOWNLOADING | state::UPDATING) {
            env.notice("a package URI while busy: ignored");
            return;
        }
        let source = match parse_uri(uri, &self.router) {
            Ok(source) => source,
            Err(result) => {
                env.notice(format_args!("unusable package URI {uri:?}"));
                return self.download_failed(result, env);
            }
        };
        if self.record.uri.as_deref() != Some(uri) {
            self.forget_package(env);
        }
        self.record.uri = Some(uri.to_string());
        let first = self.package.len() / self.config.block_size;
        env.notice(format_args!("downloading {uri} from block {first}"));
        Self::urc(env, "\"DOWNLOAD START\"");
        self.set(state::DOWNLOADING, result::INITIAL, env);
        let size = self.config.block_size;
        self.download = Some(
            self.endpoint()
                .download(now, source.to, source.request, first, size),
        );
    }

    fn forget_package(&mut self, env: &mut Env) {
        self.package.clear();
        self.record.uri = None;
        env.effect(Effect::Blob(BlobChange::Remove(FOTA_PACKAGE)));
    }

    /// The download failed with `result`: idle again; what was stored stays for a resume unless
    /// the package itself is at fault.
    fn download_failed(&mut self, result: u8, env: &mut Env) {
        if let Some(id) = self.download.take() {
            self.endpoint().forget(id);
        }
        if result != result::CONNECTION_LOST {
            self.forget_package(env);
        }
        Self::urc(env, &format!("\"DOWNLOAD\",{}", download_error(result)));
        self.set(state::IDLE, result, env);
    }

    fn coap_events(&mut self, env: &mut Env) {
        while let Some(event) = self.endpoint.as_mut().and_then(|e| e.poll_event()) {
            match event {
                Event::Block {
                    id, num, payload, ..
                } if Some(id) == self.download => self.block(num, payload, env),
                Event::Response { id, response } if Some(id) == self.download => {
                    self.download = None;
                    match response.status {
                        _ if response.is_success() => self.downloaded(env),
                        Status::NotFound => self.download_failed(result::INVALID_URI, env),
                        _ => self.download_failed(result::CONNECTION_LOST, env),
                    }
                }
                Event::RequestFailed { id, .. } if Some(id) == self.download => {
                    self.download_failed(result::CONNECTION_LOST, env)
                }
                _ => {}
            }
        }
    }

    /// Stores a block, unless it does not fit the free flash.
    fn block(&mut self, num: usize, payload: Vec<u8>, env: &mut Env) {
        let offset = self.package.len();
        if num * self.config.block_size != offset {
            return self.download_failed(result::CONNECTION_LOST, env);
        }
        if offset + payload.len() > self.config.free_flash
            || self.declared_len(&payload) > self.config.free_flash
        {
            env.notice(format_args!(
                "the package does not fit the {} bytes of free flash",
                self.config.free_flash
            ));
            return self.download_failed(result::NO_STORAGE, env);
        }
        self.package.extend_from_slice(&payload);
        env.effect(Effect::Blob(BlobChange::Write {
            name: FOTA_PACKAGE,
            offset,
            bytes: payload,
        }));
        let stored = self.package.len();
        Self::urc(env, &format!("\"DOWNLOADING\",{stored}"));
    }

    /// The whole package's length as its header declares it (0 while the header has not come):
    /// a package that cannot fit fails at its first block instead of after filling the flash.
    fn declared_len(&self, block: &[u8]) -> usize {
        let head = if self.package.is_empty() {
            block
        } else {
            &self.package
        };
        PackageHeader::parse(head).map_or(0, |h| h.package_len())
    }

    /// The last block came: the package is checked before it counts as downloaded.
    fn downloaded(&mut self, env: &mut Env) {
        match DeltaPackage::parse(&self.package) {
            Err(e) => {
                env.notice(format_args!("the package is unusable: {e}"));
                let result = match e {
                    PackageError::Digest | PackageError::Truncated => result::INTEGRITY,
                    _ => result::UNSUPPORTED_PACKAGE,
                };
                self.download_failed(result, env)
            }
            Ok(package) if package.source != self.firmware => {
                env.notice(format_args!(
                    "the package updates {}, not {}",
                    package.source, self.firmware
                ));
                self.download_failed(result::UNSUPPORTED_PACKAGE, env)
            }
            Ok(package) => {
                env.notice(format_args!("package to {} downloaded", package.target));
                Self::urc(env, "\"DOWNLOAD\",0");
                self.set(state::DOWNLOADED, result::INITIAL, env);
            }
        }
    }

    /// Execute /5/0/2: the update starts on a downloaded package.
    fn update_firmware(&mut self, now: Instant, env: &mut Env) {
        if self.record.state != state::DOWNLOADED {
            env.notice("update asked for without a downloaded package: ignored");
            return;
        }
        // Checked when downloaded; a target that is not a revision of a module fails the update.
        let target = DeltaPackage::parse(&self.package)
            .ok()
            .map(|p| p.target)
            .filter(|t| Revision::parse(t).is_some());
        Self::urc(env, "\"START\"");
        self.set(state::UPDATING, result::INITIAL, env);
        self.update = Some(Update {
            step: 0,
            at: now + self.config.update_step_time,
            target,
        });
    }

    /// The next progress step; after the last, the end of the update and the reboot.
    fn update_step(&mut self, now: Instant, env: &mut Env) {
        let Some(update) = self.update.as_mut() else {
            return;
        };
        let Some(percent) = self.config.update_steps.get(update.step) else {
            return self.finish_update(env);
        };
        Self::urc(env, &format!("\"UPDATING\",{percent}%,1,1"));
        update.step += 1;
        update.at = now + self.config.update_step_time;
        if update.step == self.config.update_steps.len() {
            self.finish_update(env);
        }
    }

    /// Installs the target revision (success) or keeps the old one (failure) and reboots; the
    /// result is reported after the next registration.
    fn finish_update(&mut self, env: &mut Env) {
        let Some(update) = self.update.take() else {
            return;
        };
        match update.target {
            Some(firmware) => {
                Self::urc(env, "\"END\",0");
                env.notice(format_args!("updated to {firmware}: rebooting"));
                self.package.clear();
                env.effect(Effect::Blob(BlobChange::Remove(FOTA_PACKAGE)));
                let fota = FotaRecord {
                    state: state::IDLE,
                    result: result::SUCCESS,
                    uri: None,
                };
                // The new revision is installed in one write with the state that reports it.
                env.effect(Effect::Save(NvramEdit::new(move |nv, profile| {
                    install_firmware(nv, profile, &firmware);
                    nv.set_section(&fota);
                })));
            }
            None => {
                Self::urc(env, &format!("\"END\",{UPDATE_FAILED}"));
                env.notice("the update failed: the old firmware stays; rebooting");
                self.record.state = state::DOWNLOADED;
                self.record.result = result::FAILED;
                env.effect(Effect::save(self.record.clone()));
            }
        }
        env.effect(Effect::Restart);
    }
}

impl Service for Fota {
    fn name(&self) -> &'static str {
        NAME
    }

    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8], env: &mut Env) {
        self.endpoint().handle_datagram(now, from, datagram);
        self.coap_events(env);
    }

    fn poll_transmit(&mut self) -> Option<(Transmit, Rai)> {
        Some((self.endpoint.as_mut()?.poll_transmit()?, Rai::None))
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let update = self.update.as_ref().map(|u| u.at);
        let endpoint = self.endpoint.as_ref().and_then(|e| e.poll_timeout());
        [endpoint, update].into_iter().flatten().min()
    }

    fn handle_timeout(&mut self, now: Instant, env: &mut Env) {
        if let Some(endpoint) = self.endpoint.as_mut() {
            endpoint.handle_timeout(now);
        }
        self.coap_events(env);
        if self.update.as_ref().is_some_and(|u| u.at <= now) {
            self.update_step(now, env);
        }
    }

    fn message(&mut self, now: Instant, message: &Message, env: &mut Env) {
        match message.get::<FirmwareMessage>() {
            Some(FirmwareMessage::PackageUri(uri)) => self.package_uri(now, uri, env),
            Some(FirmwareMessage::UpdateFirmware) => self.update_firmware(now, env),
            Some(FirmwareMessage::FirmwareState { .. }) | None => {}
        }
    }

    /// A download or an update keeps the module awake.
    fn is_busy(&self) -> bool {
        self.download.is_some() || self.update.is_some()
    }

    fn take_retransmissions(&mut self) -> u32 {
        self.endpoint
            .as_mut()
            .map_or(0, |endpoint| endpoint.take_retransmissions())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::Route;

    fn router() -> Router {
        let mut router = Router::new();
        router.add_route("180.101.147.115=127.0.0.1:5683".parse::<Route>().unwrap());
        router
    }

    #[test]
    fn package_uris_are_read_or_refused_with_their_result() {
        let router = router();
        let source = parse_uri("coap://180.101.147.115:5683/fota/p1?v=2", &router).unwrap();
        assert_eq!(source.to, "180.101.147.115:5683".parse().unwrap());
        assert_eq!(source.request.path_text(), "/fota/p1");
        assert_eq!(source.request.query, ["v=2"]);
        let refused = [
            (
                "coaps://180.101.147.115/fota/p1",
                result::UNSUPPORTED_PROTOCOL,
            ),
            (
                "http://180.101.147.115/fota/p1",
                result::UNSUPPORTED_PROTOCOL,
            ),
            ("180.101.147.115/fota/p1", result::INVALID_URI),
            ("coap://", result::INVALID_URI),
            ("coap://180.101.147.115:0/x", result::INVALID_URI),
            ("coap://180.101.147.115:99999/x", result::INVALID_URI),
            ("coap://[::1/x", result::INVALID_URI),
            ("coap://10.1.2.3/x", result::INVALID_URI),
            ("coap://no.such.host/x", result::INVALID_URI),
        ];
        for (uri, expected) in refused {
            assert_eq!(parse_uri(uri, &router), Err(expected), "{uri}");
        }
        let long = format!("coap://180.101.147.115/{}", "a".repeat(MAX_PACKAGE_URI));
        assert_eq!(parse_uri(&long, &router), Err(result::INVALID_URI));
        assert!(parse_uri("coap://[::1]:5683/x", &router).is_ok());
    }

    #[test]
    fn a_torn_last_block_is_fetched_again_after_a_reopen() {
        use crate::nvram::{FileStore, NvramStore};
        let dir = tempfile::tempdir().unwrap();
        let mut store = FileStore::in_dir(dir.path()).unwrap();
        store.write_blob(FOTA_PACKAGE, 0, &[1; 512]).unwrap();
        store.write_blob(FOTA_PACKAGE, 512, &[2; 512]).unwrap();
        // The power went while the third block was being written: 100 of its bytes made it.
        store.write_blob(FOTA_PACKAGE, 1024, &[3; 100]).unwrap();
        let store = FileStore::in_dir(dir.path()).unwrap();
        let package = whole_blocks(store.read_blob(FOTA_PACKAGE).unwrap(), 512);
        assert_eq!(package.len(), 1024, "the download resumes at block 2");
        assert_eq!(package[512..], [2; 512]);
    }

    #[test]
    fn download_errors_are_the_seeds_codes() {
        let codes: Vec<u8> = [2, 4, 5, 6, 7, 9].into_iter().map(download_error).collect();
        assert_eq!(codes, [2, 4, 5, 6, 9, 9]);
    }
}
