//! The module against a damaged store and a host that never reads: hand-edited NVRAM with values
//! the commands could never have written is refused at boot with a message that names the store
//! and the field; UART output nobody takes is bounded.

use nbmodem_clock::Instant;
use nbmodem_module::nvram::{MemoryStore, NvramData, NvramStore, Section};
use nbmodem_module::profile::Profile;
use nbmodem_module::radio::SleepSetting;
use nbmodem_module::services::cmdmp::{DmServerSetting, DmSettings};
use nbmodem_module::services::ctiot::KeptObservation;
use nbmodem_module::services::fota::FotaRecord;
use nbmodem_module::services::self_registration::{Registered, SelfRegistrationSettings};
use nbmodem_module::{find_profile, Module, ModuleConfig, MAX_OUTPUT};

/// A change to a sound store that no command could have made.
type Damage = Box<dyn FnOnce(&mut NvramData)>;

fn store_with(edit: impl FnOnce(&mut NvramData)) -> MemoryStore {
    let mut data = NvramData::new("BC26", "865975030000001", "BC26NBR01A07");
    edit(&mut data);
    let mut store = MemoryStore::new();
    store.save(&data).unwrap();
    store
}

fn kept(token: String, sequence: u32) -> KeptObservation {
    KeptObservation { token, sequence }
}

/// Text where a section of another name keeps an object.
#[derive(serde::Serialize, serde::Deserialize)]
struct Unreadable(String);

impl Section for Unreadable {
    const NAME: &'static str = "ctiot";
    fn check(&self, _: &Profile) -> Result<(), String> {
        Ok(())
    }
}

fn start(store: &MemoryStore) -> Result<Module, String> {
    let config = ModuleConfig::new(find_profile("BC26").unwrap());
    Module::new(config, Box::new(store.clone())).map_err(|e| e.to_string())
}

#[test]
fn a_store_with_impossible_values_is_refused_and_left_alone() {
    let cases: [(&str, Damage); 11] = [
        ("`imei`", Box::new(|d| d.imei = "12".into())),
        (
            "section `sleep`: `mode`",
            Box::new(|d| d.set_section(&SleepSetting { mode: 7 })),
        ),
        (
            "section `dm`: `server.period`",
            Box::new(|d| {
                d.edit(|dm: &mut DmSettings| {
                    dm.server = Some(DmServerSetting {
                        host: "117.161.2.41".into(),
                        port: Some(5683),
                        period: 0,
                    })
                })
            }),
        ),
        ("`firmware`", Box::new(|d| d.firmware = "nonsense".into())),
        (
            "section `dm`: `plmns`",
            Box::new(|d| d.edit(|dm: &mut DmSettings| dm.plmns = vec!["4600x".into()])),
        ),
        // A token of 16 bytes made AT+NCDPOPEN panic inside coap-lite.
        (
            "section `fota_observation`",
            Box::new(|d| d.set_section(&kept("ab".repeat(16), 1))),
        ),
        (
            "section `fota_observation`",
            Box::new(|d| d.set_section(&kept("0g".into(), 1))),
        ),
        (
            "section `fota_observation`",
            Box::new(|d| d.set_section(&kept("ab".into(), 1 << 24))),
        ),
        (
            "section `fota`: `uri`",
            Box::new(|d| d.edit(|f: &mut FotaRecord| f.uri = Some("a".repeat(256)))),
        ),
        (
            "section `self_registration`: `china_telecom`",
            Box::new(|d| {
                d.edit(|s: &mut SelfRegistrationSettings| {
                    s.china_telecom = Some(Registered {
                        firmware: "BC26NBR01A07".into(),
                        imei: "865975030000001".into(),
                        iccid: "x".into(),
                        at_ms: 0,
                    })
                })
            }),
        ),
        (
            "section `ctiot` is unreadable",
            Box::new(|d| d.set_section(&Unreadable("ctiot".into()))),
        ),
    ];
    for (field, edit) in cases {
        let store = store_with(edit);
        let before = store.content();
        let error = start(&store).err().unwrap_or_default();
        assert!(
            error.contains(field) && error.contains("NVRAM in memory"),
            "{field}: {error}"
        );
        assert_eq!(
            store.content(),
            before,
            "{field}: the store is not rewritten"
        );
    }
    assert!(start(&store_with(|_| {})).is_ok(), "a sound store starts");
    let longest = |d: &mut NvramData| d.set_section(&kept("ab".repeat(8), (1 << 24) - 1));
    assert!(
        start(&store_with(longest)).is_ok(),
        "an 8-byte token starts"
    );
}

#[test]
fn output_nobody_reads_is_bounded_and_counted() {
    let store = MemoryStore::new();
    let mut module = start(&store).unwrap();
    let t0 = Instant::from_unix_millis(1_767_225_600_000);
    module.power_on(t0);
    nbmodem_clock::Timed::handle_timeout(&mut module, t0 + nbmodem_module::BOOT_TIME);
    let now = t0 + std::time::Duration::from_secs(2);
    for _ in 0..20_000 {
        module.receive(b"ATI\r", now);
    }
    let out = module.take_output();
    assert_eq!(out.len(), MAX_OUTPUT, "the newest output is kept");
    assert!(out.ends_with(b"Revision: BC26NBR01A07\r\n\r\nOK\r\n"));
    assert!(
        module.output_dropped() > 500_000,
        "{}",
        module.output_dropped()
    );
}
