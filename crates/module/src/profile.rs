//! Model profiles: everything that differs between the module models of the seeds, as data.
//!
//! A [`Profile`] names a model and gives its default firmware, how it identifies itself, its boot
//! URCs, its AT defaults and response style, its error table, its command table, the operators whose
//! carrier features it implements, and its CoAP retransmission parameters. Code never asks "is this
//! a BC95?"; it reads the profile.

use crate::energy::{Current, PowerProfile};
use crate::errors::{ErrorTable, BC260Y_ERRORS, NEUL_ERRORS, QUECTEL_ERRORS};
use crate::identity::Operator;
use crate::neul::{NconfigItem, NconfigValues, NeulConfig, UartConfig, UartSettings};
use crate::revision::Revision;
use nbmodem_at::ResultFormat;
use nbmodem_coap::TransmissionParams;
use nbmodem_operators::dm::{self as cmdmp, FactoryKey};
use std::net::Ipv4Addr;
use std::time::Duration;

/// RFC 7252 retransmission parameters of one kind of exchange. The ACK_RANDOM_FACTOR is 1.0 for
/// every profile (behaviour.md §4.4), so that schedules are exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retransmission {
    pub ack_timeout: Duration,
    pub max_retransmit: u32,
    /// The total timeout a seed states, which decides when an exchange has failed instead of the
    /// back-off's give-up (BC25 DM: 30 s, seed 000 §2.3.3; BC260Y-CN DM: 128 s, seed 001 §2.2.3).
    pub total: Option<Duration>,
}

impl Retransmission {
    const fn new(ack_timeout_secs: u64, max_retransmit: u32) -> Self {
        Retransmission {
            ack_timeout: Duration::from_secs(ack_timeout_secs),
            max_retransmit,
            total: None,
        }
    }

    const fn with_total(self, total_secs: u64) -> Self {
        Retransmission {
            total: Some(Duration::from_secs(total_secs)),
            ..self
        }
    }

    /// The CoAP engine's parameters: these, with no randomisation.
    pub fn params(&self) -> TransmissionParams {
        TransmissionParams::exact(self.ack_timeout, self.max_retransmit)
            .with_exchange_timeout(self.total)
    }

    /// When an exchange started at time zero has failed: the total timeout, or else
    /// ACK_TIMEOUT × (2^(MAX_RETRANSMIT+1) − 1).
    pub fn give_up_after(&self) -> Duration {
        self.total
            .unwrap_or(self.ack_timeout * ((1u32 << (self.max_retransmit + 1)) - 1))
    }
}

/// The CoAP timing of a profile, per kind of exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoapTiming {
    /// China Mobile DM (CMDMP, LwM2M) exchanges: Register and Update.
    pub cmdmp: Retransmission,
    /// China Telecom and China Unicom self-registration exchanges.
    pub self_registration: Retransmission,
}

/// How the model identifies itself in ATI and AT+CGMR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identification {
    pub manufacturer: &'static str,
    pub product: &'static str,
    /// Printed before the revision: `Revision: ` on the Quectel SoC firmware, `Revision:` on the
    /// Neul-based BC95 family.
    pub revision_prefix: &'static str,
}

/// How a model's operator self-registration is switched (AT+QSELFREGISTER or AT+QSREGENABLE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SelfRegistration {
    /// Self-registration is on by default up to these revisions (each limits its own line of
    /// revisions, seed 000 table 1); off after them.
    pub default_on_up_to: &'static [&'static str],
    /// BC260Y-CN: after a firmware update from this revision or earlier to a later one with the
    /// setting 1, the read shows 3 (seed 001).
    pub read_three_after_update_from: Option<&'static str>,
    /// BC260Y-CN: unless sleep is disabled (AT+QSCLK=0), a failed round sends the module to deep
    /// sleep and no round follows (seed 001).
    pub no_retry_unless_sleep_disabled: bool,
}

impl SelfRegistration {
    /// Whether `firmware` has self-registration on by default (seed 000 table 1).
    pub fn default_on(&self, firmware: &str) -> bool {
        let Some(revision) = Revision::parse(firmware) else {
            return false;
        };
        self.default_on_up_to
            .iter()
            .filter_map(|limit| Revision::parse(limit))
            .any(|limit| revision.is_at_most(&limit))
    }
}

/// How a model configures China Mobile DM (AT+QDMPCFG or AT+DMPCONFIG).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DmConfig {
    /// The command's name.
    pub command: &'static str,
    /// The syntax line its test command answers (as the seeds print it).
    pub test_syntax: &'static str,
    /// The server used when none is configured (an IP address or a domain).
    pub default_server: &'static str,
    /// Where DM goes when the default domain does not resolve.
    pub fallback_ip: Ipv4Addr,
    pub port_range: (u16, u16),
    pub default_period: u32,
    /// Type 1 may leave the server, the port or both empty, each bracketed on its own (seed 004
    /// §2.1: `AT+DMPCONFIG=1, , ,300`); DM then uses the default server or port 5683.
    pub server_and_port_optional: bool,
    /// Type 3 stores a PLMN list.
    pub plmn_list: bool,
    /// Query (type 4) and state (type 6) answers without the `+NAME: ` prefix (seed 004).
    pub bare_answers: bool,
    /// DM runs only when operator self-registration is switched on too (the BC25 family,
    /// behaviour.md §4.1).
    pub needs_self_registration_switch: bool,
    /// The periodic Update wakes the module from deep sleep (BC260Y-CN, seed 001); otherwise an
    /// Update that falls due in deep sleep is not sent (BC25, seed 000).
    pub update_wakes_from_deep_sleep: bool,
    /// The app key and password a factory module registers with (seed 000 §2.3.1, seed 001
    /// §2.2.1: DM runs out of the box); AT+QDMPCFG type 2 replaces them, erasing restores them.
    pub factory_key: FactoryKey,
    /// What an omitted parameter of the set command (and of AT+QDMPCFGEX) becomes.
    pub omitted: Omitted,
}

/// Which command table a model's firmware has: the tables, built from the handlers, are in
/// [`crate::commands`] ([`Profile::commands`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandSet {
    /// BC25 and BC32 families (seed 000).
    Quectel,
    /// BC260Y-CN (seeds 001 and 002).
    Bc260y,
    /// BC26 and BC20 (seed 003).
    Bc26,
    /// The Neul-based firmware of BC35-G, BC28 and BC95 (seed 004).
    Neul,
}

/// A part of a model's firmware that some revisions lack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    /// China Mobile DM (CMDMP): its client and its configuration command.
    Cmdmp,
    /// The China Telecom IoT platform / CTWing AEP link and its commands (AT+NCDPOPEN, …).
    CtIot,
}

/// What a firmware revision must be for a feature to be in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    /// The revision ends with this text (`_ONT`, seed 004 §1).
    Suffix(&'static str),
    /// The revision's release (`R02` in `BC260YCNAAR02A01`) is at least this (seed 002 note 2:
    /// "R02 及之后固件版本").
    ReleaseAtLeast(u8),
}

impl Requirement {
    pub fn is_met_by(self, firmware: &str) -> bool {
        match self {
            Requirement::Suffix(suffix) => firmware.ends_with(suffix),
            Requirement::ReleaseAtLeast(release) => {
                Revision::parse(firmware).is_some_and(|r| r.release() >= release)
            }
        }
    }
}

/// The China Telecom IoT platform / CTWing AEP link of a model (seed 002 chapters 2, 3 and 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CtIotConfig {
    /// The platform's port when AT+NCDPOPEN gives none, or 0.
    pub default_port: u16,
    /// The longest `<psk>`, in bytes (seed §2.3.1: 256).
    pub max_psk: usize,
    /// The longest AT+NMGS `<data>`, in bytes (seed §2.3.3: 1024).
    pub max_uplink: usize,
    /// The downlink buffer: at most this many messages and bytes (seed §2.3.5 note 3).
    pub buffer_messages: usize,
    pub buffer_bytes: usize,
    /// AT+NNMI of a booted module (seed §2.3.5 underlines 1).
    pub nnmi_default: u8,
    /// AT+NCFG lifetimes: at most this; 1 up to `lifetime_floor` become `lifetime_floor`; the
    /// factory value is 0, no lifetime (seed §2.3.6).
    pub lifetime_max: u32,
    pub lifetime_floor: u32,
    /// The link's CoAP exchanges (Register, CON uplinks): 2, 4, 8, 16, 32 and 64 s, the
    /// "maximum 126 s" of an unencrypted connect (seed §2.3.1 note 5).
    pub link: Retransmission,
    /// How long AT+NCDPCLOSE waits for the De-register to be answered (seed §2.3.2: 124 s).
    pub deregister_timeout: Duration,
    /// DFOTA over Object 5 (seed 002 chapter 5).
    pub fota: FotaConfig,
    /// The lifetime registered when none is configured (AT+NCFG 0 or no AT+NCFG): 0 registers
    /// none.
    pub default_lifetime: u32,
    /// The link's events are `+QLWEVTIND` URCs (seed 002 chapter 3); the Neul family reports
    /// with `+NSMI` and `+QLWULDATASTATUS` instead.
    pub event_urcs: bool,
    /// AT+NMGR and AT+NNMI's data URC print `+NAME` before the values (seed 002), or print the
    /// values bare (`3,AABBCC`, the Neul family).
    pub downlink_prefix: bool,
    /// The AT+NMSTATUS word for a registration the platform observes on /19/0/0.
    pub observed_status: &'static str,
    /// An uplink while no registration is up starts one with the AT+NCDP platform and waits for
    /// it (the Neul family's "registration on the first message"); otherwise it is refused.
    pub registers_on_uplink: bool,
    /// The most uplinks waiting for that registration (AT+NQMGS's PENDING).
    pub max_pending: usize,
}

/// The firmware update of a model, as data (docs/decisions.md, "DFOTA").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FotaConfig {
    /// The flash free for a package: a larger one fails with `DOWNLOAD,2`.
    pub free_flash: usize,
    /// The Block2 size of the download (protocols.md §5: 512).
    pub block_size: usize,
    /// The download's CoAP exchanges.
    pub download: Retransmission,
    /// The progress `+QIND: "FOTA","UPDATING",<n>%,1,1` shows, in order (the last is 100).
    pub update_steps: &'static [u8],
    /// The time between two progress steps.
    pub update_step_time: Duration,
}

/// BC260Y-CN (seed 002).
pub const BC260Y_CTIOT: CtIotConfig = CtIotConfig {
    default_port: 5683,
    max_psk: 256,
    max_uplink: 1024,
    buffer_messages: 8,
    buffer_bytes: 2560,
    nnmi_default: 1,
    lifetime_max: 2_592_000,
    lifetime_floor: 900,
    link: Retransmission::new(2, 5),
    deregister_timeout: Duration::from_secs(124),
    fota: FotaConfig {
        free_flash: 400 * 1024,
        block_size: 512,
        download: Retransmission::new(2, 4),
        update_steps: &[2, 20, 40, 60, 80, 100],
        update_step_time: Duration::from_secs(2),
    },
    default_lifetime: 0,
    event_urcs: true,
    downlink_prefix: true,
    observed_status: "REGISTERED_AND_OBSERVED",
    registers_on_uplink: false,
    max_pending: 0,
};

/// The Neul family's link to the China Telecom IoT platform (BC35-G&BC28&BC95 R2.0 AT Commands
/// Manual, "Huawei IoT platform" commands; docs/decisions.md, "Neul family commands").
pub const NEUL_CTIOT: CtIotConfig = CtIotConfig {
    max_uplink: 512,
    buffer_messages: 8,
    buffer_bytes: 8 * 512,
    nnmi_default: 0,
    default_lifetime: 86_400,
    event_urcs: false,
    downlink_prefix: false,
    observed_status: "MO_DATA_ENABLED",
    registers_on_uplink: true,
    max_pending: 8,
    ..BC260Y_CTIOT
};

/// AT+NCONFIG's items in the BC35-G&BC28&BC95 R2.0 AT Commands Manual, with factory values.
const NEUL_NCONFIG: &[NconfigItem] = &[
    flag("AUTOCONNECT", true),
    flag("CR_0354_0338_SCRAMBLING", true),
    flag("CR_0859_SI_AVOID", true),
    flag("COMBINE_ATTACH", false),
    flag("CELL_RESELECTION", true),
    flag("ENABLE_BIP", false),
    flag("MULTITONE", true),
    flag("NAS_SIM_POWER_SAVING_ENABLE", true),
    NconfigItem {
        name: "BARRING_RELEASE_DELAY",
        values: NconfigValues::Range(0, 1800),
        default: "64",
    },
    NconfigItem {
        name: "RELEASE_VERSION",
        values: NconfigValues::Choice(&["13", "14"]),
        default: "13",
    },
    flag("RPM", false),
    NconfigItem {
        name: "SYNC_TIME_PERIOD",
        values: NconfigValues::Range(0, 65535),
        default: "0",
    },
    NconfigItem {
        name: "IPV6_GET_PREFIX_TIME",
        values: NconfigValues::Range(0, 65535),
        default: "15",
    },
    NconfigItem {
        name: "NB_CATEGORY",
        values: NconfigValues::Choice(&["1", "2"]),
        default: "1",
    },
    flag("RAI", false),
    flag("HEAD_COMPRESS", false),
    flag("RLF_UPDATE", false),
    flag("CONNECTION_REESTABLISHMENT", false),
    flag("TWO_HARQ", false),
    NconfigItem {
        name: "PCO_IE_TYPE",
        values: NconfigValues::Choice(&["PCO", "EPCO"]),
        default: "EPCO",
    },
];

const fn flag(name: &'static str, on: bool) -> NconfigItem {
    NconfigItem {
        name,
        values: NconfigValues::Flag,
        default: if on { "TRUE" } else { "FALSE" },
    }
}

/// The Neul commands of BC35-G and BC28: six bands (B1, B3, B5, B8, B20, B28).
const NEUL_MULTI_BAND: NeulConfig = NeulConfig {
    nconfig: NEUL_NCONFIG,
    bands: &[1, 3, 5, 8, 20, 28],
    default_bands: &[1, 3, 5, 8, 20, 28],
    max_earfcn: 262_143,
    max_pci: 503,
    uart: UartConfig {
        baud_rates: &[4800, 9600, 57600, 115200, 230400, 460800],
        sync_max: 30_000,
        factory: UartSettings {
            baud_rate: 9600,
            sync_mode_duration: 3,
            stop_bits: 1,
            parity: 0,
            xon_xoff: 0,
        },
    },
    registration_mode_default: 1,
    // Class 3 (23 dBm) or 5 (20 dBm).
    power_classes: &[3, 5],
};

/// What an optional parameter the host leaves out of a set command becomes (the seeds' notes on
/// "[...]": seed 001 §3.1.1 keeps the previous value or the default, seed 003 §2.1 the default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Omitted {
    /// The seed states no rule: every parameter must be given.
    Refused,
    /// The value set before (the saved one), or the default if none was set.
    KeepsPrevious,
    /// The default.
    TakesDefault,
}

/// The URCs written on entering and leaving deep sleep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeepSleepUrcs {
    pub enter: &'static str,
    pub exit: &'static str,
}

/// What lets a model enter deep sleep (PSM).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SleepControl {
    /// AT+QSCLK (the Quectel SoC models), with its factory value: 1 lets the module sleep (as
    /// soon as the connection is released, or T3324 later with a PSM grant); 0 and 2 keep it out.
    Qsclk { factory: u8 },
    /// The PSM grant alone (the Neul models: their R2.0 manual has no AT+QSCLK): with PSM granted
    /// (AT+CPSMS=1) the module sleeps T3324 after the release; without it, it stays in idle.
    PsmGrant,
}

/// How a model writes a PDP address (AT+CGPADDR): `0,"10.1.2.3"` or `1,10.1.2.3`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressStyle {
    Quoted,
    Bare,
}

/// How AT+CCLK writes the time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockStyle {
    /// `+CCLK: "2026/01/01,08:00:03+32"`: quoted, the year in four digits (as a BC260Y-CN on
    /// BC260YCNAAR02A02 answers).
    QuotedLongYear,
    /// `+CCLK:26/01/01,08:00:03+32`: bare, the year in two digits (27.007's `yy`).
    BareShortYear,
}

/// One AT+QCFG item a model's manual lists: its name as typed, its values and its factory value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QcfgItem {
    pub name: &'static str,
    pub min: u8,
    pub max: u8,
    pub default: u8,
}

/// The general command set of a model (3GPP 27.007 and the Quectel family's own commands), as
/// data: docs/commands.md names the manual each value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GeneralConfig {
    /// The context the network activates at attach (AT+CGPADDR, AT+CGDCONT): 0 on the BC260Y-CN
    /// (seed 002) and the Neul firmware, 1 on the BC26 and BC20.
    pub default_cid: u8,
    /// The highest `<cid>` AT+CGDCONT takes.
    pub max_cid: u8,
    pub address_style: AddressStyle,
    /// The PDP types AT+CGDCONT takes, spelt as the manual spells them.
    pub pdp_types: &'static [&'static str],
    pub clock_style: ClockStyle,
    /// The highest AT+CTZR `<reporting>`.
    pub max_ctzr: u8,
    /// The bands of AT+QBAND (none where the model has no AT+QBAND).
    pub bands: &'static [u8],
    /// AT+IPR: the rates it takes and the factory rate.
    pub baud_rates: &'static [u32],
    pub baud_default: u32,
    /// The AT+QCFG items.
    pub qcfg: &'static [QcfgItem],
}

/// One module model.
#[derive(Debug)]
pub struct Profile {
    pub model: &'static str,
    pub default_firmware: &'static str,
    pub identification: Identification,
    /// Written when the module has booted, each string framed as one URC.
    pub boot_urcs: &'static [&'static str],
    /// Written instead after the reboot of AT+NRB (the Neul family's banner names its cause).
    pub nrb_urcs: &'static [&'static str],
    pub echo_default: bool,
    pub cmee_default: ResultFormat,
    /// Between a response's name and its values: `+CSQ: 25,99` or `+CSQ:25,99`.
    pub separator: &'static str,
    /// The same for the `+CSCON` URC, which BC260Y-CN prints without a space (seed 002).
    pub cscon_urc_separator: &'static str,
    pub errors: &'static ErrorTable,
    /// Its firmware's command table (see [`crate::commands`]).
    pub command_set: CommandSet,
    /// Operators whose self-registration or DM the model implements (behaviour.md §1). The first is
    /// the operator of the default SIM.
    pub operators: &'static [Operator],
    pub coap: CoapTiming,
    pub self_registration: SelfRegistration,
    pub dm: DmConfig,
    /// What deep sleep writes; `None` for the models whose seeds show no such URC.
    pub deep_sleep_urcs: Option<DeepSleepUrcs>,
    /// What lets the module enter deep sleep.
    pub sleep_control: SleepControl,
    /// The command that reboots the module (AT+QRST=1, or AT+NRB on the Neul models).
    pub reboot_command: &'static str,
    /// The features only some firmware revisions have, and which revisions have them; a feature
    /// not listed is in every revision.
    pub firmware_features: &'static [(Feature, Requirement)],
    /// The China Telecom IoT platform link, on the models that have one.
    pub ctiot: Option<CtIotConfig>,
    /// The Neul family's own commands (AT+NCONFIG, AT+NBAND, …), on the models that have them.
    pub neul: Option<NeulConfig>,
    /// The currents of the energy account.
    pub power: PowerProfile,
    /// The timer and eDRX bit strings of AT+CPSMS, AT+CEDRXS, AT+CEREG… are quoted (`"00111000"`,
    /// the Quectel SoC manuals) or bare (`00111000`, the BC95 manual).
    pub quoted_bit_strings: bool,
    /// The general command set's model differences.
    pub general: GeneralConfig,
    /// The data sockets the host may open.
    pub sockets: SocketLimits,
}

/// Which command set opens data sockets, and so how their URCs look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketApi {
    /// AT+NSOCR and its family, `+NSONMI` (BC95, BC35-G, BC28).
    Neul,
    /// AT+QIOPEN and its family, `+QIURC` (BC25, BC32, BC26, BC20, BC260Y-CN).
    Quectel,
}

/// A model's data sockets and their limits (the figures and their sources: docs/commands.md,
/// section "sockets").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketLimits {
    pub api: SocketApi,
    /// How many may be open at once; their numbers are 0 to `count - 1`.
    pub count: u8,
    /// The most bytes one send carries.
    pub max_send: usize,
    /// The most bytes one read returns.
    pub max_read: usize,
    /// The most unread bytes a socket keeps; what would overflow it is dropped.
    pub receive_buffer: usize,
}

/// The Neul family: seven sockets (0–6), 512 bytes a send or read.
const NEUL_SOCKETS: SocketLimits = SocketLimits {
    api: SocketApi::Neul,
    count: 7,
    max_send: 512,
    max_read: 512,
    receive_buffer: 4096,
};

/// The Quectel family: `<connectID>` 0–4, 1024 bytes a send, 1024 a read.
const QUECTEL_SOCKETS: SocketLimits = SocketLimits {
    api: SocketApi::Quectel,
    count: 5,
    max_send: 1024,
    max_read: 1024,
    receive_buffer: 4096,
};

impl Profile {
    /// Whether `firmware` has `feature`.
    pub fn has_feature(&self, feature: Feature, firmware: &str) -> bool {
        self.firmware_features
            .iter()
            .filter(|(f, _)| *f == feature)
            .all(|(_, requirement)| requirement.is_met_by(firmware))
    }
}

use Operator::{ChinaMobile as CM, ChinaTelecom as CT, ChinaUnicom as CU};

const QUECTEL_BOOT: &[&str] = &["RDY", "+CFUN: 1", "+CPIN: READY"];
/// The Neul boot banner of the BC95 family; each string is one frame.
const NEUL_BOOT: &[&str] = &[
    "Boot: Unsigned\r\nSecurity B.. Verified\r\nProtocol A.. Verified\r\nApps A...... Verified",
    "REBOOT_CAUSE_SECURITY_RESET_PIN\r\nNeul \r\nOK",
];
/// The same after AT+NRB (the manual's example of AT+NRB): the cause is the AT command.
const NEUL_REBOOT: &[&str] = &[NEUL_BOOT[0], "REBOOT_CAUSE_APPLICATION_AT\r\nNeul \r\nOK"];

const BC25_COAP: CoapTiming = CoapTiming {
    // 2, 4, 8 and 16 s, "total timeout 30 s" (seed 000 §2.3.3).
    cmdmp: Retransmission::new(2, 4).with_total(30),
    self_registration: Retransmission::new(3, 4),
};

const QDMPCFG: DmConfig = DmConfig {
    command: "+QDMPCFG",
    test_syntax: "<type>[,<parameter1>[,<parameter2>[,<parameter3>[,<parameter4>]]]]",
    default_server: "117.161.2.41",
    fallback_ip: Ipv4Addr::new(117, 161, 2, 41),
    port_range: (1000, 65535),
    default_period: 86_400,
    server_and_port_optional: false,
    plmn_list: false,
    bare_answers: false,
    needs_self_registration_switch: true,
    update_wakes_from_deep_sleep: false,
    factory_key: cmdmp::FACTORY_BC25,
    // Seed 000 states no rule for omitted parameters.
    omitted: Omitted::Refused,
};

const DMPCONFIG: DmConfig = DmConfig {
    command: "+DMPCONFIG",
    // Seed 004's bracketing, as printed.
    test_syntax: "<type>[,<parameter1>][,<parameter2>][,<parameter3>[,<parameter4>]]]",
    port_range: (1, 65535),
    server_and_port_optional: true,
    plmn_list: true,
    bare_answers: true,
    needs_self_registration_switch: false,
    factory_key: cmdmp::FACTORY_NEUL,
    ..QDMPCFG
};

/// A model whose seed does not switch self-registration (only DM_mode governs DM).
const NO_SWITCH: SelfRegistration = SelfRegistration {
    default_on_up_to: &[],
    read_three_after_update_from: None,
    no_retry_unless_sleep_disabled: false,
};

/// The currents of the BC-series. No BC-series datasheet was at hand, so they are assumptions of
/// the right order, to compare settings with rather than to predict a battery's life.
const BC_SERIES_POWER: PowerProfile = PowerProfile {
    psm: Current {
        micro_amps: 3.5,
        source: "assumed: Quectel hardware design documents of NB-IoT modules give 0.8-4.2 µA in \
                 deep sleep (BC660K-GL 0.8, BC65 4, BC950N-N1 4.2)",
    },
    idle: Current {
        micro_amps: 500.0,
        source: "assumed: light sleep in DRX idle, averaged over the paging cycle",
    },
    connected: Current {
        micro_amps: 25_000.0,
        source: "assumed: RRC connected, receiving, no uplink",
    },
    transmitting: Current {
        micro_amps: 120_000.0,
        source: "assumed: uplink at 23 dBm",
    },
};

const QUECTEL_PDP_TYPES: &[&str] = &["IP", "IPV6", "IPV4V6", "Non-IP"];
const QUECTEL_BAUD_RATES: &[u32] = &[4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800];
const EPCO: QcfgItem = QcfgItem {
    name: "epco",
    min: 0,
    max: 1,
    default: 1,
};
const NB_CATEGORY: QcfgItem = QcfgItem {
    name: "NBcategory",
    min: 1,
    max: 2,
    default: 2,
};
/// Deep sleep event reports (+QNBIOTEVENT); on out of the box, as seed 002 shows them.
const DSEVENT: QcfgItem = QcfgItem {
    name: "dsevent",
    min: 0,
    max: 1,
    default: 1,
};

/// BC25 and BC32 (BC25 AT Commands Manual; the address as seed 002 shows the BC260Y-CN's, whose
/// firmware line it shares).
const BC25_GENERAL: GeneralConfig = GeneralConfig {
    default_cid: 0,
    max_cid: 10,
    address_style: AddressStyle::Quoted,
    pdp_types: QUECTEL_PDP_TYPES,
    clock_style: ClockStyle::QuotedLongYear,
    max_ctzr: 3,
    bands: &[1, 2, 3, 4, 5, 8, 12, 13, 17, 18, 19, 20, 25, 28, 66, 70, 85],
    baud_rates: QUECTEL_BAUD_RATES,
    baud_default: 9600,
    qcfg: &[EPCO, NB_CATEGORY],
};

const BC25: Profile = Profile {
    model: "BC25",
    default_firmware: "BC25PAR01A04",
    identification: Identification {
        manufacturer: "Quectel_Ltd",
        product: "Quectel_BC25",
        revision_prefix: "Revision: ",
    },
    boot_urcs: QUECTEL_BOOT,
    nrb_urcs: QUECTEL_BOOT,
    echo_default: true,
    cmee_default: ResultFormat::Numeric,
    separator: ": ",
    cscon_urc_separator: ": ",
    errors: &QUECTEL_ERRORS,
    command_set: CommandSet::Quectel,
    operators: &[CM, CT, CU],
    coap: BC25_COAP,
    self_registration: SelfRegistration {
        default_on_up_to: &["BC25PAR01A04", "BC25PAR01A03_BT"],
        read_three_after_update_from: None,
        no_retry_unless_sleep_disabled: false,
    },
    dm: QDMPCFG,
    deep_sleep_urcs: None,
    sleep_control: SleepControl::Qsclk { factory: 0 },
    reboot_command: "AT+QRST=1",
    firmware_features: &[],
    ctiot: None,
    neul: None,
    power: BC_SERIES_POWER,
    quoted_bit_strings: true,
    general: BC25_GENERAL,
    sockets: QUECTEL_SOCKETS,
};

const BC260Y_CN: Profile = Profile {
    model: "BC260Y-CN",
    default_firmware: "BC260YCNAAR02A01",
    identification: Identification {
        product: "Quectel_BC260Y-CN",
        ..BC25.identification
    },
    cscon_urc_separator: ":",
    command_set: CommandSet::Bc260y,
    operators: &[CT, CM],
    coap: CoapTiming {
        // 2, 4, 8, 16, 32 s between six sends, "total timeout 128 s" (seed 001 §2.2.3); the
        // back-off alone would give up at 126 s.
        cmdmp: Retransmission::new(2, 5).with_total(128),
        self_registration: Retransmission::new(3, 4),
    },
    self_registration: SelfRegistration {
        default_on_up_to: &[],
        read_three_after_update_from: Some("BC260YCNAAR01A03"),
        no_retry_unless_sleep_disabled: true,
    },
    dm: DmConfig {
        // Seed 001 §3.2.2 brackets the first two parameters together.
        test_syntax: "<type>[,<parameter1>,<parameter2>[,<parameter3>[,<parameter4>]]]",
        default_server: "m.fxltsbl.com",
        port_range: (1, 65535),
        needs_self_registration_switch: false,
        update_wakes_from_deep_sleep: true,
        factory_key: cmdmp::FACTORY_BC260Y,
        omitted: Omitted::KeepsPrevious,
        ..QDMPCFG
    },
    // Seed 002's example.
    deep_sleep_urcs: Some(DeepSleepUrcs {
        enter: "+QNBIOTEVENT: \"ENTER DEEPSLEEP\"",
        exit: "+QNBIOTEVENT: \"EXIT DEEPSLEEP\"",
    }),
    // Sleep is on out of the box: every transcript of seed 002 starts by disabling it, and seed
    // 001 §2.1.4 ties the retry rule to "sleep not disabled".
    sleep_control: SleepControl::Qsclk { factory: 1 },
    errors: &BC260Y_ERRORS,
    // R01 firmware has none of seed 002's commands (note 2).
    firmware_features: &[(Feature::CtIot, Requirement::ReleaseAtLeast(2))],
    ctiot: Some(BC260Y_CTIOT),
    general: GeneralConfig {
        // In the order a BC260Y-CN on BC260YCNAAR02A02 reads them.
        bands: &[5, 8, 3],
        qcfg: &[EPCO, NB_CATEGORY, DSEVENT],
        ..BC25_GENERAL
    },
    ..BC25
};

const BC26: Profile = Profile {
    model: "BC26",
    default_firmware: "BC26NBR01A07",
    identification: Identification {
        product: "Quectel_BC26",
        ..BC25.identification
    },
    command_set: CommandSet::Bc26,
    operators: &[CM],
    self_registration: NO_SWITCH,
    dm: DmConfig {
        port_range: (1, 65535),
        needs_self_registration_switch: false,
        factory_key: cmdmp::FACTORY_BC26,
        omitted: Omitted::TakesDefault,
        ..QDMPCFG
    },
    // Drivers written against the BC26 ask for context 1 and read its address unquoted.
    general: GeneralConfig {
        default_cid: 1,
        max_cid: 15,
        address_style: AddressStyle::Bare,
        bands: &[1, 2, 3, 4, 5, 8, 12, 13, 17, 18, 19, 20, 25, 26, 28, 66],
        baud_default: 115200,
        qcfg: &[EPCO],
        ..BC25_GENERAL
    },
    ..BC25
};

const BC95: Profile = Profile {
    model: "BC95",
    default_firmware: "BC95HBR02A01_ONT",
    identification: Identification {
        manufacturer: "Quectel",
        product: "BC95",
        revision_prefix: "Revision:",
    },
    boot_urcs: NEUL_BOOT,
    nrb_urcs: NEUL_REBOOT,
    echo_default: false,
    cmee_default: ResultFormat::Plain,
    separator: ":",
    cscon_urc_separator: ":",
    errors: &NEUL_ERRORS,
    command_set: CommandSet::Neul,
    operators: &[CM],
    coap: BC25_COAP,
    self_registration: NO_SWITCH,
    dm: DmConfig {
        default_period: 900,
        server_and_port_optional: false,
        ..DMPCONFIG
    },
    deep_sleep_urcs: None,
    sleep_control: SleepControl::PsmGrant,
    reboot_command: "AT+NRB",
    // Only the OneNET firmware, whose revision ends in `_ONT`, talks to CMDMP (seed 004 §1).
    firmware_features: &[(Feature::Cmdmp, Requirement::Suffix("_ONT"))],
    ctiot: Some(NEUL_CTIOT),
    // The BC95 of the China Mobile SIM this project gives it is the B8 (900 MHz) variant; BC95
    // R2.0 comes in single-band variants (docs/decisions.md, "Neul family commands").
    neul: Some(NeulConfig {
        bands: &[8],
        default_bands: &[8],
        ..NEUL_MULTI_BAND
    }),
    power: BC_SERIES_POWER,
    quoted_bit_strings: false,
    // BC95 AT Commands Manual V2.0 §3.11 (AT+CGPADDR), §3.16 (AT+CGDCONT), §3.19 (AT+CCLK),
    // §3.24 (AT+CTZR); the spellings are docs/decisions.md's "General command set".
    general: GeneralConfig {
        default_cid: 0,
        max_cid: 10,
        address_style: AddressStyle::Bare,
        pdp_types: &["IP", "NONIP", "IPV6", "IPV4V6"],
        clock_style: ClockStyle::BareShortYear,
        max_ctzr: 3,
        bands: &[],
        baud_rates: &[],
        baud_default: 9600,
        qcfg: &[],
    },
    sockets: NEUL_SOCKETS,
};

/// Every model of the seeds.
pub static PROFILES: &[Profile] = &[
    BC25,
    Profile {
        model: "BC25-B5",
        default_firmware: "BC25B5PAR01A04",
        identification: Identification {
            product: "Quectel_BC25-B5",
            ..BC25.identification
        },
        operators: &[CT],
        self_registration: SelfRegistration {
            default_on_up_to: &["BC25B5PAR01A04"],
            ..BC25.self_registration
        },
        general: GeneralConfig {
            bands: &[5],
            ..BC25_GENERAL
        },
        ..BC25
    },
    Profile {
        model: "BC25-B8",
        default_firmware: "BC25B8PAR01A05",
        identification: Identification {
            product: "Quectel_BC25-B8",
            ..BC25.identification
        },
        operators: &[CM],
        self_registration: SelfRegistration {
            default_on_up_to: &["BC25B8PAR01A05"],
            ..BC25.self_registration
        },
        general: GeneralConfig {
            bands: &[8],
            ..BC25_GENERAL
        },
        ..BC25
    },
    Profile {
        model: "BC32",
        default_firmware: "BC32RAR01A03",
        identification: Identification {
            product: "Quectel_BC32",
            ..BC25.identification
        },
        operators: &[CM],
        self_registration: SelfRegistration {
            default_on_up_to: &["BC32RAR01A03"],
            ..BC25.self_registration
        },
        general: GeneralConfig {
            bands: &[3, 5, 8],
            ..BC25_GENERAL
        },
        ..BC25
    },
    Profile {
        model: "BC32-B8",
        default_firmware: "BC32B8RAR01A03",
        identification: Identification {
            product: "Quectel_BC32-B8",
            ..BC25.identification
        },
        operators: &[CM],
        self_registration: SelfRegistration {
            default_on_up_to: &["BC32B8RAR01A03"],
            ..BC25.self_registration
        },
        general: GeneralConfig {
            bands: &[8],
            ..BC25_GENERAL
        },
        ..BC25
    },
    BC260Y_CN,
    BC26,
    Profile {
        model: "BC20",
        default_firmware: "BC20JAR01A05",
        identification: Identification {
            product: "Quectel_BC20",
            ..BC25.identification
        },
        general: GeneralConfig {
            bands: &[1, 3, 5, 8, 20, 28],
            ..BC26.general
        },
        ..BC26
    },
    Profile {
        model: "BC35-G",
        default_firmware: "BC35GJBR01A02_ONT",
        identification: Identification {
            product: "BC35-G",
            ..BC95.identification
        },
        dm: DMPCONFIG,
        neul: Some(NEUL_MULTI_BAND),
        ..BC95
    },
    Profile {
        model: "BC28",
        default_firmware: "BC28JAR01A02_ONT",
        identification: Identification {
            product: "BC28",
            ..BC95.identification
        },
        dm: DMPCONFIG,
        neul: Some(NEUL_MULTI_BAND),
        ..BC95
    },
    BC95,
];

/// The profile of `model`, compared without regard to case.
pub fn find(model: &str) -> Option<&'static Profile> {
    PROFILES
        .iter()
        .find(|p| p.model.eq_ignore_ascii_case(model))
}

/// The model names, for help texts and error messages.
pub fn model_names() -> Vec<&'static str> {
    PROFILES.iter().map(|p| p.model).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::revision::Revision;

    #[test]
    fn every_model_of_the_seeds_has_a_profile() {
        assert_eq!(
            model_names(),
            [
                "BC25",
                "BC25-B5",
                "BC25-B8",
                "BC32",
                "BC32-B8",
                "BC260Y-CN",
                "BC26",
                "BC20",
                "BC35-G",
                "BC28",
                "BC95"
            ]
        );
        assert_eq!(find("bc260y-cn").map(|p| p.model), Some("BC260Y-CN"));
        assert!(find("BC66").is_none());
    }

    #[test]
    fn default_firmware_parses_as_a_revision() {
        for p in PROFILES {
            assert!(Revision::parse(p.default_firmware).is_some(), "{}", p.model);
        }
    }

    #[test]
    fn the_ct_iot_link_is_in_r02_firmware_and_later() {
        let bc260y = find("BC260Y-CN").unwrap();
        assert!(bc260y.has_feature(Feature::CtIot, "BC260YCNAAR02A01"));
        assert!(bc260y.has_feature(Feature::CtIot, "BC260YCNAAR03A01"));
        assert!(!bc260y.has_feature(Feature::CtIot, "BC260YCNAAR01A03"));
        let link = bc260y.ctiot.unwrap().link;
        assert_eq!(link.give_up_after(), Duration::from_secs(126));
    }

    #[test]
    fn retransmission_limits_of_behaviour_4_4() {
        let bc25 = find("BC25").unwrap().coap;
        assert_eq!(bc25.cmdmp.give_up_after(), Duration::from_secs(30));
        assert_eq!(
            bc25.self_registration.give_up_after(),
            Duration::from_secs(93)
        );
        assert_eq!(
            find("BC260Y-CN").unwrap().coap.cmdmp.give_up_after(),
            Duration::from_secs(128)
        );
    }
}
