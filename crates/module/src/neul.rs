//! The Neul family's own settings (BC35-G, BC28, BC95 R2.0): what AT+NCONFIG, AT+NBAND,
//! AT+NEARFCN, AT+NATSPEED, AT+NCDP and AT+QREGSWT keep in NVRAM, as one saved section
//! ([`NeulSettings`]), and what each model offers, as profile data ([`NeulConfig`]).
//!
//! Every setting here is saved the moment its command is answered. Which take effect at once and
//! which after the next reboot is said per command in `docs/commands.md`; the module reads the
//! in-use copy (loaded at boot) for the after-reboot ones, such as AT+NCONFIG's AUTOCONNECT.

use crate::nvram::{NvramData, Section};
use crate::profile::Profile;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What values one AT+NCONFIG item takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NconfigValues {
    /// `TRUE` or `FALSE`.
    Flag,
    /// An integer from the first to the second, inclusive.
    Range(u32, u32),
    /// One of these words.
    Choice(&'static [&'static str]),
}

/// One AT+NCONFIG item of a model's manual, with its factory value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NconfigItem {
    pub name: &'static str,
    pub values: NconfigValues,
    pub default: &'static str,
}

impl NconfigItem {
    /// `value` as the item stores it (words in upper case), if the item takes it.
    pub fn accept(&self, value: &str) -> Option<String> {
        let upper = value.to_ascii_uppercase();
        let fits = match self.values {
            NconfigValues::Flag => upper == "TRUE" || upper == "FALSE",
            NconfigValues::Range(low, high) => {
                let digits = !upper.is_empty() && upper.bytes().all(|b| b.is_ascii_digit());
                digits
                    && upper
                        .parse::<u32>()
                        .is_ok_and(|v| (low..=high).contains(&v))
            }
            NconfigValues::Choice(words) => words.contains(&upper.as_str()),
        };
        fits.then(|| match self.values {
            // `0064` is stored as 64, as the read prints it.
            NconfigValues::Range(..) => upper.parse::<u32>().map(|v| v.to_string()).unwrap(),
            _ => upper,
        })
    }

    /// The value list of the test answer: `(FALSE,TRUE)`, `(0-1800)`, `(PCO,EPCO)`.
    pub fn value_list(&self) -> String {
        match self.values {
            NconfigValues::Flag => "(FALSE,TRUE)".into(),
            NconfigValues::Range(low, high) => format!("({low}-{high})"),
            NconfigValues::Choice(words) => format!("({})", words.join(",")),
        }
    }
}

/// AT+NATSPEED's values: what each of its five parameters may be, and the factory setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UartConfig {
    pub baud_rates: &'static [u32],
    pub sync_max: u32,
    pub factory: UartSettings,
}

/// The Neul family's commands of a model, as data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeulConfig {
    /// AT+NCONFIG's items, in the order the read and test answers list them.
    pub nconfig: &'static [NconfigItem],
    /// The bands the model supports (AT+NBAND's test answer), in the manual's order.
    pub bands: &'static [u8],
    /// The bands of a factory module.
    pub default_bands: &'static [u8],
    /// The largest EARFCN AT+NEARFCN takes, and the largest physical cell ID.
    pub max_earfcn: u32,
    pub max_pci: u16,
    pub uart: UartConfig,
    /// AT+QREGSWT of a factory module ([`registration`]).
    pub registration_mode_default: u8,
    /// AT+NPOWERCLASS: the power classes a band may be given; the first is every band's factory
    /// class.
    pub power_classes: &'static [u8],
}

impl NeulConfig {
    pub fn item(&self, name: &str) -> Option<&NconfigItem> {
        self.nconfig
            .iter()
            .find(|item| item.name.eq_ignore_ascii_case(name))
    }
}

/// AT+NATSPEED's five values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UartSettings {
    pub baud_rate: u32,
    /// How long the module listens for the next character before it may sleep, in ms.
    pub sync_mode_duration: u32,
    pub stop_bits: u8,
    /// 0 none, 1 odd, 2 even.
    pub parity: u8,
    pub xon_xoff: u8,
}

impl UartSettings {
    fn is_valid(&self, uart: &UartConfig) -> bool {
        uart.baud_rates.contains(&self.baud_rate)
            && self.sync_mode_duration <= uart.sync_max
            && (1..=2).contains(&self.stop_bits)
            && self.parity <= 2
            && self.xon_xoff <= 1
    }
}

/// AT+NEARFCN: the module searches only this EARFCN (and this cell, when given).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EarfcnLock {
    pub earfcn: u32,
    #[serde(default)]
    pub pci: Option<u16>,
}

/// AT+NCDP: the China Telecom IoT platform the link registers with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CdpServer {
    pub host: String,
    pub port: u16,
}

/// AT+QREGSWT's values: when the link registers with the AT+NCDP platform.
pub mod registration {
    /// At the first uplink only.
    pub const MANUAL: u8 = 0;
    /// Also at the first attach after boot.
    pub const AT_ATTACH: u8 = 1;
    /// Never: the link's uplinks are refused.
    pub const DISABLED: u8 = 2;
}

/// The longest AT+NCDP address (a dotted IPv4 address or a domain).
pub const MAX_CDP_HOST: usize = 253;

/// The Neul family's saved settings; each `None` (or absent item) is the factory value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeulSettings {
    /// AT+NCONFIG items set, by name, as the read prints them.
    #[serde(default)]
    pub nconfig: BTreeMap<String, String>,
    /// AT+NBAND.
    #[serde(default)]
    pub bands: Option<Vec<u8>>,
    /// AT+NEARFCN, until AT+NCSEARFCN clears it.
    #[serde(default)]
    pub earfcn: Option<EarfcnLock>,
    /// AT+NATSPEED.
    #[serde(default)]
    pub uart: Option<UartSettings>,
    /// AT+NCDP.
    #[serde(default)]
    pub cdp: Option<CdpServer>,
    /// AT+QREGSWT.
    #[serde(default)]
    pub registration_mode: Option<u8>,
    /// AT+NPOWERCLASS: the class set per band.
    #[serde(default)]
    pub power_classes: BTreeMap<u8, u8>,
}

impl NeulSettings {
    /// The value of AT+NCONFIG item `name`: the one set, or the factory value.
    pub fn nconfig_value<'a>(&'a self, config: &'a NeulConfig, name: &str) -> Option<&'a str> {
        let item = config.item(name)?;
        Some(
            self.nconfig
                .get(item.name)
                .map_or(item.default, String::as_str),
        )
    }

    pub fn bands<'a>(&'a self, config: &'a NeulConfig) -> &'a [u8] {
        self.bands.as_deref().unwrap_or(config.default_bands)
    }

    pub fn uart(&self, config: &NeulConfig) -> UartSettings {
        self.uart.unwrap_or(config.uart.factory)
    }

    /// The power class of `band`: the one set, or the factory class.
    pub fn power_class(&self, config: &NeulConfig, band: u8) -> u8 {
        self.power_classes
            .get(&band)
            .copied()
            .unwrap_or(config.power_classes[0])
    }

    pub fn registration_mode(&self, config: &NeulConfig) -> u8 {
        self.registration_mode
            .unwrap_or(config.registration_mode_default)
    }

    /// Whether the module attaches by itself after boot (AUTOCONNECT); always on a model
    /// without the item.
    pub fn autoconnect(&self, profile: &Profile) -> bool {
        profile
            .neul
            .as_ref()
            .and_then(|config| self.nconfig_value(config, "AUTOCONNECT"))
            .is_none_or(|value| value == "TRUE")
    }

    /// Checks that every value is one the commands could have stored (see
    /// [`Section::check`]); what is wrong, in words.
    fn check_values(&self, profile: &Profile) -> Result<(), String> {
        let bad = |field: &str, value: &dyn std::fmt::Debug, want: &str| {
            Err(format!("`{field}` is {value:?}, but must be {want}"))
        };
        let Some(config) = profile.neul.as_ref() else {
            if self != &NeulSettings::default() {
                return Err(format!(
                    "{self:?}, but must be empty on a model without the Neul commands"
                ));
            }
            return Ok(());
        };
        for (name, value) in &self.nconfig {
            let fits = config
                .nconfig
                .iter()
                .find(|item| item.name == name)
                .and_then(|item| item.accept(value))
                .is_some_and(|stored| &stored == value);
            if !fits {
                return bad(
                    "nconfig",
                    &(name, value),
                    "an AT+NCONFIG item and its value",
                );
            }
        }
        if let Some(bands) = &self.bands {
            if bands.is_empty() || !bands.iter().all(|b| config.bands.contains(b)) {
                return bad("bands", bands, &format!("some of {:?}", config.bands));
            }
        }
        if let Some(lock) = &self.earfcn {
            if lock.earfcn > config.max_earfcn || lock.pci.is_some_and(|p| p > config.max_pci) {
                return bad("earfcn", lock, "an EARFCN and cell of AT+NEARFCN's ranges");
            }
        }
        if let Some(uart) = &self.uart {
            if !uart.is_valid(&config.uart) {
                return bad("uart", uart, "values of AT+NATSPEED's ranges");
            }
        }
        if let Some(cdp) = &self.cdp {
            if cdp.host.is_empty() || cdp.host.len() > MAX_CDP_HOST {
                return bad("cdp", cdp, "an address of 1 to 253 characters");
            }
        }
        for (band, class) in &self.power_classes {
            if !config.bands.contains(band) || !config.power_classes.contains(class) {
                return bad(
                    "power_classes",
                    &(band, class),
                    "a supported band and class",
                );
            }
        }
        if self
            .registration_mode
            .is_some_and(|mode| mode > registration::DISABLED)
        {
            return bad("registration_mode", &self.registration_mode, "0, 1 or 2");
        }
        Ok(())
    }
}

impl Section for NeulSettings {
    const NAME: &'static str = "neul";

    fn check(&self, profile: &Profile) -> Result<(), String> {
        self.check_values(profile)
    }
}

/// The Neul settings saved in `data` (the factory values while none was set).
pub fn saved(data: &NvramData) -> NeulSettings {
    data.section().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ITEM: NconfigItem = NconfigItem {
        name: "BARRING_RELEASE_DELAY",
        values: NconfigValues::Range(0, 1800),
        default: "64",
    };

    #[test]
    fn items_take_their_values_only() {
        assert_eq!(ITEM.accept("1800").as_deref(), Some("1800"));
        assert_eq!(ITEM.accept("0064").as_deref(), Some("64"));
        assert_eq!(ITEM.accept("1801"), None);
        assert_eq!(ITEM.accept("-1"), None);
        assert_eq!(ITEM.accept(""), None);
        let flag = NconfigItem {
            name: "AUTOCONNECT",
            values: NconfigValues::Flag,
            default: "TRUE",
        };
        assert_eq!(flag.accept("false").as_deref(), Some("FALSE"));
        assert_eq!(flag.accept("TURE"), None);
        assert_eq!(flag.value_list(), "(FALSE,TRUE)");
        assert_eq!(ITEM.value_list(), "(0-1800)");
    }

    #[test]
    fn a_hand_edited_section_is_refused() {
        let bc28 = crate::profile::find("BC28").unwrap();
        let mut settings = NeulSettings::default();
        assert!(settings.check(bc28).is_ok());
        settings
            .nconfig
            .insert("AUTOCONNECT".into(), "MAYBE".into());
        assert!(settings.check(bc28).is_err());
        settings.nconfig.clear();
        settings.bands = Some(vec![66]);
        assert!(settings.check(bc28).is_err());
        let bc25 = crate::profile::find("BC25").unwrap();
        settings.bands = Some(vec![8]);
        assert!(settings.check(bc25).is_err());
    }
}
