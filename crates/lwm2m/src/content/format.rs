//! The CoAP Content-Format numbers of the LwM2M content formats.

use thiserror::Error;

/// A content format an LwM2M peer may put in the CoAP Content-Format or Accept option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContentFormat {
    /// `text/plain;charset=utf-8` (0): one resource value as text.
    Text,
    /// `application/link-format` (40): CoRE links (RFC 6690).
    LinkFormat,
    /// `application/octet-stream` (42): one opaque resource value.
    Opaque,
    /// `application/senml+json` (110): SenML JSON (RFC 8428).
    SenmlJson,
    /// `application/vnd.oma.lwm2m+tlv` (11542): LwM2M TLV.
    Tlv,
    /// `application/vnd.oma.lwm2m+json` (11543): the OMA JSON format of LwM2M 1.0.
    OmaJson,
}

/// A Content-Format number that is not one of the LwM2M formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("content format {0} is not an LwM2M format")]
pub struct UnknownContentFormat(pub u16);

impl ContentFormat {
    /// The registered CoAP Content-Format number.
    pub const fn code(self) -> u16 {
        match self {
            Self::Text => 0,
            Self::LinkFormat => 40,
            Self::Opaque => 42,
            Self::SenmlJson => 110,
            Self::Tlv => 11542,
            Self::OmaJson => 11543,
        }
    }
}

impl From<ContentFormat> for u16 {
    fn from(format: ContentFormat) -> u16 {
        format.code()
    }
}

impl TryFrom<u16> for ContentFormat {
    type Error = UnknownContentFormat;

    fn try_from(code: u16) -> Result<Self, UnknownContentFormat> {
        match code {
            0 => Ok(Self::Text),
            40 => Ok(Self::LinkFormat),
            42 => Ok(Self::Opaque),
            110 => Ok(Self::SenmlJson),
            11542 => Ok(Self::Tlv),
            11543 => Ok(Self::OmaJson),
            other => Err(UnknownContentFormat(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [ContentFormat; 6] = [
        ContentFormat::Text,
        ContentFormat::LinkFormat,
        ContentFormat::Opaque,
        ContentFormat::SenmlJson,
        ContentFormat::Tlv,
        ContentFormat::OmaJson,
    ];

    #[test]
    fn codes_are_the_registered_numbers() {
        let codes: Vec<u16> = ALL.iter().map(|format| u16::from(*format)).collect();
        assert_eq!(codes, [0, 40, 42, 110, 11542, 11543]);
    }

    #[test]
    fn every_code_converts_back() {
        for format in ALL {
            assert_eq!(ContentFormat::try_from(format.code()), Ok(format));
        }
    }

    #[test]
    fn other_codes_are_rejected() {
        for code in [1, 41, 50, 60, 1541, 11544, u16::MAX] {
            assert_eq!(
                ContentFormat::try_from(code),
                Err(UnknownContentFormat(code))
            );
        }
    }
}
