//! The module's identity (IMEI) and its SIM card (IMSI, ICCID), and the operator the SIM belongs to.

use thiserror::Error;

/// The three Chinese operators whose carrier features the seeds describe, and everyone else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Operator {
    ChinaMobile,
    ChinaUnicom,
    ChinaTelecom,
    Other,
}

impl Operator {
    /// The operator of a home PLMN (MCC+MNC, five digits for China).
    pub fn from_plmn(plmn: &str) -> Operator {
        match plmn {
            "46000" | "46002" | "46004" | "46007" | "46008" => Operator::ChinaMobile,
            "46001" | "46006" | "46009" => Operator::ChinaUnicom,
            "46003" | "46005" | "46011" => Operator::ChinaTelecom,
            _ => Operator::Other,
        }
    }

    /// The operator of an IMSI: that of its first five digits.
    pub fn from_imsi(imsi: &str) -> Operator {
        imsi.get(..5).map_or(Operator::Other, Operator::from_plmn)
    }

    pub fn name(self) -> &'static str {
        match self {
            Operator::ChinaMobile => "China Mobile",
            Operator::ChinaUnicom => "China Unicom",
            Operator::ChinaTelecom => "China Telecom",
            Operator::Other => "other",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IdentityError {
    #[error("IMEI must be 15 digits: {0:?}")]
    Imei(String),
    #[error("IMSI must be 15 digits: {0:?}")]
    Imsi(String),
    #[error("ICCID must be 19 or 20 hexadecimal characters: {0:?}")]
    Iccid(String),
}

/// The IMEI a module gets when none is given (15 digits with a valid Luhn check digit).
pub const DEFAULT_IMEI: &str = "865975030000001";

/// Checks an IMEI: exactly 15 decimal digits.
pub fn check_imei(imei: &str) -> Result<(), IdentityError> {
    if is_digits(imei, 15) {
        Ok(())
    } else {
        Err(IdentityError::Imei(imei.to_string()))
    }
}

/// An ICCID: 19 or 20 hexadecimal digits.
pub fn check_iccid(iccid: &str) -> Result<(), IdentityError> {
    let iccid_ok = matches!(iccid.len(), 19 | 20) && iccid.bytes().all(|b| b.is_ascii_hexdigit());
    if iccid_ok {
        Ok(())
    } else {
        Err(IdentityError::Iccid(iccid.to_string()))
    }
}

/// The SIM card in the module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sim {
    imsi: String,
    iccid: String,
}

impl Sim {
    pub fn new(imsi: &str, iccid: &str) -> Result<Sim, IdentityError> {
        if !is_digits(imsi, 15) {
            return Err(IdentityError::Imsi(imsi.to_string()));
        }
        check_iccid(iccid)?;
        Ok(Sim {
            imsi: imsi.to_string(),
            iccid: iccid.to_string(),
        })
    }

    /// A valid test SIM of `operator` (China Mobile for [`Operator::Other`]).
    pub fn default_for(operator: Operator) -> Sim {
        let (imsi, iccid) = match operator {
            Operator::ChinaTelecom => ("460110000000001", "89861100000000000001"),
            Operator::ChinaUnicom => ("460060000000001", "89860600000000000001"),
            Operator::ChinaMobile | Operator::Other => ("460040000000001", "89860400000000000001"),
        };
        Sim {
            imsi: imsi.into(),
            iccid: iccid.into(),
        }
    }

    pub fn imsi(&self) -> &str {
        &self.imsi
    }

    pub fn iccid(&self) -> &str {
        &self.iccid
    }

    /// The home PLMN: MCC and a two-digit MNC, as Chinese IMSIs have.
    pub fn plmn(&self) -> &str {
        &self.imsi[..5]
    }

    pub fn operator(&self) -> Operator {
        Operator::from_imsi(&self.imsi)
    }
}

fn is_digits(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn luhn_ok(digits: &str) -> bool {
        let sum: u32 = digits
            .bytes()
            .rev()
            .enumerate()
            .map(|(i, b)| {
                let d = u32::from(b - b'0') * if i % 2 == 1 { 2 } else { 1 };
                if d > 9 {
                    d - 9
                } else {
                    d
                }
            })
            .sum();
        sum.is_multiple_of(10)
    }

    #[test]
    fn operator_from_plmn() {
        assert_eq!(Operator::from_plmn("46011"), Operator::ChinaTelecom);
        assert_eq!(Operator::from_plmn("46009"), Operator::ChinaUnicom);
        assert_eq!(Operator::from_plmn("46008"), Operator::ChinaMobile);
        assert_eq!(Operator::from_plmn("26201"), Operator::Other);
    }

    #[test]
    fn defaults_are_valid() {
        assert!(check_imei(DEFAULT_IMEI).is_ok());
        assert!(luhn_ok(DEFAULT_IMEI));
        for op in [
            Operator::ChinaTelecom,
            Operator::ChinaUnicom,
            Operator::ChinaMobile,
        ] {
            let sim = Sim::default_for(op);
            assert_eq!(Sim::new(sim.imsi(), sim.iccid()).as_ref(), Ok(&sim));
            assert_eq!(sim.operator(), op);
        }
    }

    #[test]
    fn rejects_bad_identities() {
        assert!(check_imei("12345").is_err());
        assert!(check_imei("86597503000000x").is_err());
        assert!(Sim::new("46011000000000", "89861100000000000001").is_err());
        assert!(Sim::new("460110000000001", "8986110000000000000G").is_err());
        assert!(Sim::new("460110000000001", "898611000000000000001").is_err());
        assert!(Sim::new("460110000000001", "8986110000000000001F").is_ok());
    }
}
