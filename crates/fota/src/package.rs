//! The delta package: what turns one firmware revision of an emulated module into another.
//!
//! ```text
//! offset  size  field
//! 0       8     magic "NBMDELTA"
//! 8       1     format version, 1
//! 9       1     n = length of the source revision (1-64)
//! 10      n     source revision, ASCII (e.g. BC260YCNAAR02A01)
//! 10+n    1     m = length of the target revision (1-64)
//! 11+n    m     target revision, ASCII (e.g. BC260YCNAAR02A01_BETA1230A)
//! 11+n+m  4     payload length, big-endian
//! 15+n+m  32    SHA-256 of the payload
//! 47+n+m  …     payload
//! ```
//!
//! The payload stands for the binary difference; the module applies nothing of it, but checks its
//! digest (integrity) and that its own revision is the source revision before it updates to the
//! target revision. [`DeltaPackage::make`] fills it with bytes derived from the revisions and a
//! seed, so that a package of any size can be made and made again identically.

use sha2::{Digest, Sha256};

const MAGIC: &[u8; 8] = b"NBMDELTA";
const VERSION: u8 = 1;
/// The longest revision a package names.
pub const MAX_REVISION: usize = 64;
/// The largest payload: far above any module's free flash, small enough to hold in memory.
pub const MAX_PAYLOAD: usize = 64 * 1024 * 1024;

/// A delta package, parsed and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeltaPackage {
    pub source: String,
    pub target: String,
    pub payload: Vec<u8>,
}

/// Why bytes are not a usable delta package.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PackageError {
    #[error("not a delta package (no NBMDELTA header)")]
    NotAPackage,
    #[error("delta package format {0} is not supported")]
    Version(u8),
    #[error("the package is cut short")]
    Truncated,
    #[error("a revision must be 1 to {MAX_REVISION} printable ASCII characters without spaces")]
    BadRevision,
    #[error("the payload is larger than {MAX_PAYLOAD} bytes")]
    TooLarge,
    #[error("{0} bytes follow the payload")]
    TrailingBytes(usize),
    #[error("the payload's digest does not match: the package is corrupt")]
    Digest,
}

impl DeltaPackage {
    /// A package from `source` to `target` with a payload of `size` bytes derived from both
    /// revisions and `seed`.
    pub fn make(
        source: &str,
        target: &str,
        size: usize,
        seed: u64,
    ) -> Result<DeltaPackage, PackageError> {
        check_revision(source)?;
        check_revision(target)?;
        if size > MAX_PAYLOAD {
            return Err(PackageError::TooLarge);
        }
        let mut payload = Vec::with_capacity(size);
        let mut counter = 0u64;
        while payload.len() < size {
            let block = Sha256::new()
                .chain_update(source)
                .chain_update([0])
                .chain_update(target)
                .chain_update(seed.to_be_bytes())
                .chain_update(counter.to_be_bytes())
                .finalize();
            let take = block.len().min(size - payload.len());
            payload.extend_from_slice(&block[..take]);
            counter += 1;
        }
        Ok(DeltaPackage {
            source: source.to_string(),
            target: target.to_string(),
            payload,
        })
    }

    /// The file name the seed gives such a package: `<source>_<target>.bin`
    /// (`BC260YCNAAR02A01_BC260YCNAAR02A01_BETA1230A.bin`, seed 002 §5.1.4.2).
    pub fn file_name(&self) -> String {
        format!("{}_{}.bin", self.source, self.target)
    }

    /// The package's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        for revision in [&self.source, &self.target] {
            out.push(revision.len() as u8);
            out.extend_from_slice(revision.as_bytes());
        }
        out.extend_from_slice(&(self.payload.len() as u32).to_be_bytes());
        out.extend_from_slice(&Sha256::digest(&self.payload));
        out.extend_from_slice(&self.payload);
        out
    }

    /// How many bytes [`DeltaPackage::encode`] gives.
    pub fn encoded_len(&self) -> usize {
        self.header().package_len()
    }

    /// The package's header.
    pub fn header(&self) -> PackageHeader {
        PackageHeader {
            source: self.source.clone(),
            target: self.target.clone(),
            payload_len: self.payload.len(),
        }
    }

    /// Parses and checks a whole package: its header, its revisions and its payload's digest.
    pub fn parse(bytes: &[u8]) -> Result<DeltaPackage, PackageError> {
        let mut reader = Reader(bytes);
        let header = PackageHeader::read(&mut reader)?;
        let digest: [u8; 32] = reader.array()?;
        let payload = reader.take(header.payload_len)?.to_vec();
        if !reader.0.is_empty() {
            return Err(PackageError::TrailingBytes(reader.0.len()));
        }
        if Sha256::digest(&payload).as_slice() != digest {
            return Err(PackageError::Digest);
        }
        Ok(DeltaPackage {
            source: header.source,
            target: header.target,
            payload,
        })
    }
}

/// What the first bytes of a package tell before the rest has come: a download knows from its
/// first block how large the whole package is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageHeader {
    pub source: String,
    pub target: String,
    pub payload_len: usize,
}

impl PackageHeader {
    /// Reads the header at the start of `bytes` (the rest of the package may be missing).
    pub fn parse(bytes: &[u8]) -> Result<PackageHeader, PackageError> {
        Self::read(&mut Reader(bytes))
    }

    fn read(reader: &mut Reader) -> Result<PackageHeader, PackageError> {
        if reader.take(MAGIC.len()).ok() != Some(MAGIC.as_slice()) {
            return Err(PackageError::NotAPackage);
        }
        let version = reader.byte()?;
        if version != VERSION {
            return Err(PackageError::Version(version));
        }
        let source = reader.revision()?;
        let target = reader.revision()?;
        let payload_len = u32::from_be_bytes(reader.array()?) as usize;
        if payload_len > MAX_PAYLOAD {
            return Err(PackageError::TooLarge);
        }
        Ok(PackageHeader {
            source,
            target,
            payload_len,
        })
    }

    /// The whole package's length: the header, the digest and the payload.
    pub fn package_len(&self) -> usize {
        MAGIC.len() + 1 + 2 + self.source.len() + self.target.len() + 4 + 32 + self.payload_len
    }
}

fn check_revision(revision: &str) -> Result<(), PackageError> {
    let printable = revision.bytes().all(|b| b.is_ascii_graphic());
    if (1..=MAX_REVISION).contains(&revision.len()) && printable {
        Ok(())
    } else {
        Err(PackageError::BadRevision)
    }
}

/// Reads a package front to back.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], PackageError> {
        if self.0.len() < n {
            return Err(PackageError::Truncated);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn byte(&mut self) -> Result<u8, PackageError> {
        Ok(self.take(1)?[0])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], PackageError> {
        let bytes = self.take(N)?;
        Ok(bytes.try_into().expect("took N bytes"))
    }

    fn revision(&mut self) -> Result<String, PackageError> {
        let length = self.byte()? as usize;
        let text =
            std::str::from_utf8(self.take(length)?).map_err(|_| PackageError::BadRevision)?;
        check_revision(text)?;
        Ok(text.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SOURCE: &str = "BC260YCNAAR02A01";
    const TARGET: &str = "BC260YCNAAR02A01_BETA1230A";

    #[test]
    fn a_made_package_round_trips_and_is_the_same_each_time() {
        let package = DeltaPackage::make(SOURCE, TARGET, 100 * 1024, 1).unwrap();
        assert_eq!(package.payload.len(), 100 * 1024);
        assert_eq!(
            package.file_name(),
            "BC260YCNAAR02A01_BC260YCNAAR02A01_BETA1230A.bin"
        );
        let bytes = package.encode();
        assert_eq!(bytes.len(), package.encoded_len());
        assert_eq!(&bytes[..8], b"NBMDELTA");
        assert_eq!(DeltaPackage::parse(&bytes), Ok(package.clone()));
        assert_eq!(
            DeltaPackage::make(SOURCE, TARGET, 100 * 1024, 1),
            Ok(package)
        );
        let other = DeltaPackage::make(SOURCE, TARGET, 100 * 1024, 2).unwrap();
        assert_ne!(
            other.payload,
            DeltaPackage::make(SOURCE, TARGET, 100 * 1024, 1)
                .unwrap()
                .payload
        );
    }

    #[test]
    fn the_header_tells_the_whole_length_from_the_first_bytes() {
        let package = DeltaPackage::make(SOURCE, TARGET, 100 * 1024, 1).unwrap();
        let bytes = package.encode();
        let header = PackageHeader::parse(&bytes[..100]).unwrap();
        assert_eq!(header, package.header());
        assert_eq!(header.package_len(), bytes.len());
        assert_eq!(
            PackageHeader::parse(&bytes[..20]),
            Err(PackageError::Truncated)
        );
        assert_eq!(
            PackageHeader::parse(b"NOTDELTA"),
            Err(PackageError::NotAPackage)
        );
    }

    #[test]
    fn damage_is_named() {
        let bytes = DeltaPackage::make(SOURCE, TARGET, 600, 1).unwrap().encode();
        let mut flipped = bytes.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert_eq!(DeltaPackage::parse(&flipped), Err(PackageError::Digest));
        assert_eq!(
            DeltaPackage::parse(&bytes[..bytes.len() - 1]),
            Err(PackageError::Truncated)
        );
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(
            DeltaPackage::parse(&longer),
            Err(PackageError::TrailingBytes(1))
        );
        assert_eq!(
            DeltaPackage::parse(b"PK\x03\x04"),
            Err(PackageError::NotAPackage)
        );
        let mut version = bytes.clone();
        version[8] = 2;
        assert_eq!(DeltaPackage::parse(&version), Err(PackageError::Version(2)));
        assert_eq!(
            DeltaPackage::make("", TARGET, 1, 1),
            Err(PackageError::BadRevision)
        );
        assert_eq!(
            DeltaPackage::make(SOURCE, "a b", 1, 1),
            Err(PackageError::BadRevision)
        );
    }

    proptest! {
        #[test]
        fn any_bytes_parse_or_fail_without_panicking(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            let _ = DeltaPackage::parse(&bytes);
            let mut package = b"NBMDELTA\x01".to_vec();
            package.extend_from_slice(&bytes);
            let _ = DeltaPackage::parse(&package);
        }
    }
}
