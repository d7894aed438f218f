//! The sample self-registration record the platform's test binaries post (a BC260Y-CN), so they
//! all agree on what a valid record is.

use nbmodem_operators::selfreg::{model_field, RegistrationRecord, REGVER};

pub fn record() -> RegistrationRecord {
    RegistrationRecord {
        regver: REGVER.into(),
        meid: "865975030000001".into(),
        model: model_field("QUE", "BC260Y-CN"),
        swver: "BC260YCNAAR02A01".into(),
        iccid: "89861100000000000001".into(),
        imsi: "460110000000001".into(),
    }
}
