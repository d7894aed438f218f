//! Error results: what went wrong ([`ErrorKind`]) and how each profile numbers and names it
//! ([`ErrorTable`]), from the error chapters of the seeds.

/// Every error a profile's table can report. Handlers name the kind; the profile's table gives the
/// `<err>` code and the AT+CMEE=2 text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    // 27.007
    OperationNotAllowed,
    OperationNotSupported,
    MemoryFailure,
    NoNetworkService,
    ExecuteFailed,
    InvalidParameter,
    CurrentlyDisabled,
    AbortedByUser,
    OptionNotSupported,
    UplinkBusy,
    // The Quectel TCP/IP error codes of AT+QIOPEN and its family.
    SocketInvalidParameters,
    SocketIdInUse,
    SocketNotAllowed,
    // 27.005
    MeFailure,
    SmsServiceReserved,
    SmsOperationNotAllowed,
    SmsOperationNotSupported,
    InvalidPduModeParameter,
    InvalidTextModeParameter,
    UsimNotInserted,
    UsimPinRequired,
    PhUsimPinRequired,
    UsimFailure,
    UsimBusy,
    UsimWrong,
    UsimPukRequired,
    UsimPin2Required,
    UsimPuk2Required,
    SmsMemoryFailure,
    InvalidMemoryIndex,
    MemoryFull,
    SmscAddressUnknown,
    SmsNoNetworkService,
    NetworkTimeout,
    NoCnmaExpected,
    Unknown,
    // The China Telecom IoT platform's codes (seed 002 chapter 6).
    CtiotOther,
    CtiotParameterCount,
    CtiotParameterValue,
    CtiotPsk,
    CtiotNotInitialized,
    CtiotDataTooLong,
    CtiotNoSim,
    CtiotDataOdd,
    CtiotNotSupported,
    CtiotNoData,
    CtiotEngineException,
    CtiotCongestion,
    CtiotWeakSignal,
    CtiotEngineReboot,
    CtiotNotLoggedIn,
    CtiotLoggingIn,
    CtiotTemporarilyUnavailable,
    CtiotNoSession,
    CtiotNotPermitted,
    CtiotNoAuthentication,
}

/// One row of an error table.
#[derive(Debug, Clone, Copy)]
pub struct ErrorEntry {
    pub kind: ErrorKind,
    pub code: u16,
    pub text: &'static str,
}

/// A profile's error table: the general (27.007) rows, the message-service (27.005) rows and the
/// rows of the platform link's commands. A kind missing from the table is reported as the table's
/// [`ErrorKind::Unknown`] row.
#[derive(Debug)]
pub struct ErrorTable {
    pub general: &'static [ErrorEntry],
    pub message_service: &'static [ErrorEntry],
    pub platform: &'static [ErrorEntry],
}

impl ErrorTable {
    pub fn lookup(&self, kind: ErrorKind) -> ErrorEntry {
        self.find(kind)
            .or_else(|| self.find(ErrorKind::Unknown))
            .unwrap_or(ErrorEntry {
                kind: ErrorKind::Unknown,
                code: 500,
                text: "Unknown error",
            })
    }

    pub fn entries(&self) -> impl Iterator<Item = &ErrorEntry> {
        self.general
            .iter()
            .chain(self.message_service)
            .chain(self.platform)
    }

    fn find(&self, kind: ErrorKind) -> Option<ErrorEntry> {
        self.entries().find(|e| e.kind == kind).copied()
    }
}

const fn e(kind: ErrorKind, code: u16, text: &'static str) -> ErrorEntry {
    ErrorEntry { kind, code, text }
}

use ErrorKind::*;

/// The 27.005 rows, the same in seed 000 table 3 and seed 004 table 2.
static ROWS_27005: &[ErrorEntry] = &[
    e(MeFailure, 300, "ME failure"),
    e(SmsServiceReserved, 301, "SMS service of ME reserved"),
    e(SmsOperationNotAllowed, 302, "Operation not allowed"),
    e(SmsOperationNotSupported, 303, "Operation not supported"),
    e(InvalidPduModeParameter, 304, "Invalid PDU mode parameter"),
    e(InvalidTextModeParameter, 305, "Invalid text mode parameter"),
    e(UsimNotInserted, 310, "USIM not inserted"),
    e(UsimPinRequired, 311, "USIM PIN required"),
    e(PhUsimPinRequired, 312, "PH-USIM PIN required"),
    e(UsimFailure, 313, "USIM failure"),
    e(UsimBusy, 314, "USIM busy"),
    e(UsimWrong, 315, "USIM wrong"),
    e(UsimPukRequired, 316, "USIM PUK required"),
    e(UsimPin2Required, 317, "USIM PIN2 required"),
    e(UsimPuk2Required, 318, "USIM PUK2 required"),
    e(SmsMemoryFailure, 320, "Memory failure"),
    e(InvalidMemoryIndex, 321, "Invalid memory index"),
    e(MemoryFull, 322, "Memory full"),
    e(SmscAddressUnknown, 330, "SMSC address unknown"),
    e(SmsNoNetworkService, 331, "No network service"),
    e(NetworkTimeout, 332, "Network timeout"),
    e(NoCnmaExpected, 340, "No +CNMA acknowledgement expected"),
    e(Unknown, 500, "Unknown error"),
];

static QUECTEL_27007: &[ErrorEntry] = &[
    e(OperationNotAllowed, 3, "Operation not allowed"),
    e(OperationNotSupported, 4, "Operation not supported"),
    e(MemoryFailure, 23, "Memory failure"),
    e(NoNetworkService, 30, "No network service"),
    e(ExecuteFailed, 50, "Execute fail"),
    e(OptionNotSupported, 52, "Option not supported"),
    e(InvalidParameter, 53, "Param invalid"),
    e(UplinkBusy, 159, "Uplink busy/flow control"),
    // The TCP/IP codes of AT+QIOPEN and its family (docs/commands.md, section "sockets").
    e(SocketInvalidParameters, 552, "Invalid parameters"),
    e(SocketIdInUse, 563, "Socket identity has been used"),
    e(SocketNotAllowed, 572, "Operation not allowed"),
];

static NEUL_27007: &[ErrorEntry] = &[
    e(OperationNotAllowed, 3, "Operation not allowed"),
    e(OperationNotSupported, 4, "Operation not supported"),
    e(MemoryFailure, 23, "Memory failure"),
    e(NoNetworkService, 30, "No network service"),
    e(InvalidParameter, 50, "Incorrect parameters"),
    e(
        CurrentlyDisabled,
        51,
        "Command implemented but currently disabled",
    ),
    e(AbortedByUser, 52, "Command aborted by user"),
    e(UplinkBusy, 159, "Uplink busy/flow control"),
];

/// Seed 002 table 3: the codes of the China Telecom IoT platform commands, named as the seed names
/// them (its spellings kept).
static CTIOT_ROWS: &[ErrorEntry] = &[
    e(CtiotOther, 1, "CTIOT_EB_OTHER"),
    e(CtiotParameterCount, 2, "CTIOT_EB_PARAMETER_NUM_ERROR"),
    e(CtiotParameterValue, 3, "CTIOT_EB_PARAMETER_VALUE_ERROR"),
    e(CtiotPsk, 5, "CTIOT_ED_PSK_ERROR"),
    e(CtiotNotInitialized, 8, "CTIOT_EA_PARAM_NOT_INTIALIZED"),
    e(CtiotDataTooLong, 14, "CTIOT_EB_DATA_LENGTH_OVERRRUN"),
    e(CtiotNoSim, 16, "CTIOT_EA_CONNECT_FAILED_SIMCARD"),
    e(CtiotDataOdd, 17, "CTIOT_EB_DATA_LENGTH_NOT_EVEN"),
    e(CtiotNotSupported, 303, "CTIOT_EE_OPERATOR_NOT_SUPPORTED"),
    e(CtiotNoData, 801, "CTIOT_EB_NO_RECV_DATA"),
    e(CtiotEngineException, 950, "CTIOT_EA_ENGINE_EXCEPTION"),
    e(CtiotCongestion, 951, "CTIOT_EA_NETWORK_TRAFFIC"),
    e(CtiotWeakSignal, 952, "CTIOT_EA_SIGNAL_LEVEL2"),
    e(CtiotEngineReboot, 953, "CTIOT_EA_ENGINE_REBOOT"),
    e(CtiotNotLoggedIn, 954, "CTIOT_EA_NOT_LOGIN"),
    e(CtiotLoggingIn, 955, "CTIOT_EA_LOGIN_PROCESSING"),
    e(
        CtiotTemporarilyUnavailable,
        957,
        "CTIOT_EA_CONNECT_USELESS_TEMP",
    ),
    e(CtiotNoSession, 958, "CTIOT_EA_OPERATION_FAILED_NOSESSION"),
    e(CtiotNotPermitted, 959, "CTIOT_EA_OPERATION_NOT_PERMITTED"),
    e(CtiotNoAuthentication, 960, "CTIOT_EA_OPERATION_NO_AUTHSTR"),
];

/// Seed 000, tables 2 and 3 (BC25, BC32); also used by BC26 and BC20, whose seeds give no general
/// table of their own.
pub static QUECTEL_ERRORS: ErrorTable = ErrorTable {
    general: QUECTEL_27007,
    message_service: ROWS_27005,
    platform: &[],
};

/// BC260Y-CN: seed 000's tables (seed 001 gives none of its own) and seed 002 table 3.
pub static BC260Y_ERRORS: ErrorTable = ErrorTable {
    platform: CTIOT_ROWS,
    ..QUECTEL_ERRORS
};

/// The Neul family's link to the China Telecom IoT platform reports with the codes of its
/// manual's error chapter (BC35-G&BC28&BC95 R2.0 AT Commands Manual): the link's kinds named as
/// the Neul firmware numbers them.
static NEUL_LINK_ROWS: &[ErrorEntry] = &[
    e(CtiotParameterCount, 50, "Incorrect parameters"),
    e(CtiotParameterValue, 50, "Incorrect parameters"),
    e(CtiotDataTooLong, 50, "Incorrect parameters"),
    e(CtiotDataOdd, 50, "Incorrect parameters"),
    e(CtiotPsk, 50, "Incorrect parameters"),
    e(
        CtiotNotInitialized,
        512,
        "Required parameter not configured",
    ),
    e(CtiotNotLoggedIn, 513, "TUP not registered"),
    e(CtiotNoSession, 513, "TUP not registered"),
    e(CtiotLoggingIn, 513, "TUP not registered"),
    e(CtiotTemporarilyUnavailable, 30, "No network service"),
    e(CtiotNotPermitted, 3, "Operation not allowed"),
    e(CtiotEngineException, 514, "AT internal error"),
];

/// Seed 004, tables 1 and 2 (BC35-G, BC28, BC95), and the link's codes.
pub static NEUL_ERRORS: ErrorTable = ErrorTable {
    general: NEUL_27007,
    message_service: ROWS_27005,
    platform: NEUL_LINK_ROWS,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_two_tables_number_parameter_errors_differently() {
        assert_eq!(QUECTEL_ERRORS.lookup(InvalidParameter).code, 53);
        assert_eq!(
            QUECTEL_ERRORS.lookup(InvalidParameter).text,
            "Param invalid"
        );
        assert_eq!(NEUL_ERRORS.lookup(InvalidParameter).code, 50);
        assert_eq!(
            NEUL_ERRORS.lookup(InvalidParameter).text,
            "Incorrect parameters"
        );
    }

    #[test]
    fn bc260y_has_the_platform_codes_of_seed_002() {
        assert_eq!(BC260Y_ERRORS.lookup(CtiotDataOdd).code, 17);
        assert_eq!(
            BC260Y_ERRORS.lookup(CtiotDataTooLong).text,
            "CTIOT_EB_DATA_LENGTH_OVERRRUN"
        );
        assert_eq!(BC260Y_ERRORS.platform.len(), 20);
        assert_eq!(BC260Y_ERRORS.lookup(InvalidParameter).code, 53);
        assert_eq!(QUECTEL_ERRORS.lookup(CtiotDataOdd).code, 500);
    }

    #[test]
    fn a_kind_missing_from_a_table_is_unknown_error() {
        assert_eq!(NEUL_ERRORS.lookup(ExecuteFailed).code, 500);
        assert_eq!(
            QUECTEL_ERRORS.lookup(CurrentlyDisabled).text,
            "Unknown error"
        );
    }

    #[test]
    fn tables_hold_every_row_of_the_seeds() {
        // The seeds' 31, and the three TCP/IP codes the socket commands answer with.
        assert_eq!(QUECTEL_ERRORS.entries().count(), 31 + 3);
        assert_eq!(NEUL_ERRORS.lookup(NoCnmaExpected).code, 340);
        assert_eq!(
            QUECTEL_ERRORS.lookup(UplinkBusy).text,
            "Uplink busy/flow control"
        );
    }
}
