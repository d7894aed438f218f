//! DFOTA (seed 002 chapter 5) for the emulated modules: the delta packages a module downloads and
//! applies ([`package`]), the key pairs and signatures that vouch for them ([`signing`]), and the
//! zip archives in which they are signed and uploaded ([`archive`]). The formats are the
//! project's own (the real modules' packages are Quectel's and undocumented); `docs/fota.md`
//! describes them.

pub mod archive;
pub mod package;
pub mod signing;

pub use archive::{verify_signed_zip, SignedArchive, SignedPackage};
pub use package::{DeltaPackage, PackageError, PackageHeader};
pub use signing::{Algorithm, KeyPair, PrivateKey, PublicKey, SignError};
