//! DFOTA (seed 002 chapter 5) for the emulated modules: the delta packages a module downloads and
//! applies ([`package`]). The format is the project's own (the real modules' packages are
//! Quectel's and undocumented); `docs/fota.md` describes it.

pub mod package;

pub use package::{DeltaPackage, PackageError, PackageHeader};
