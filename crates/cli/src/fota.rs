//! `nbmodem fota`: the offline signing tool of seed 002 §5.1.3–5.1.4 — make a key pair, make a
//! delta package wrapped in a zip, sign it, and verify a signed archive as the platform will.

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand};
use nbmodem_fota::archive::{sign_package_zip, signed_file_name, zip_package};
use nbmodem_fota::signing::{generate_key_pair, hex, sha256};
use nbmodem_fota::{verify_signed_zip, Algorithm, DeltaPackage, PrivateKey};
use std::fs::OpenOptions;
use std::io::{BufRead, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Key pairs, delta packages and their signatures (seed 002 §5.1.3–5.1.4; docs/fota.md).
#[derive(Debug, Args)]
pub struct FotaArgs {
    #[command(subcommand)]
    command: FotaCommand,
}

#[derive(Debug, Subcommand)]
enum FotaCommand {
    /// Make a key pair: private.pem (encrypted under a pass phrase, mode 0600) and public.pem.
    Keygen {
        /// The signature algorithm: RSA2048+SHA256 or ECDSA_256K1+SHA256.
        #[arg(long, default_value_t = Algorithm::Rsa2048Sha256)]
        algorithm: Algorithm,
        /// The folder to write the two files in.
        #[arg(long, default_value = ".")]
        out: PathBuf,
        /// Replace existing key files.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        passphrase: PassphraseArgs,
    },
    /// Make a delta package <from>_<to>.bin and the zip holding it, ready to sign.
    Make {
        /// The source revision (what ATI shows now), e.g. BC260YCNAAR02A01.
        #[arg(long)]
        from: String,
        /// The target revision, e.g. BC260YCNAAR02A01_BETA1230A.
        #[arg(long)]
        to: String,
        /// The payload's size: bytes, or with B, KiB or MiB (100KiB).
        #[arg(long, value_parser = parse_size, default_value = "100KiB")]
        size: usize,
        /// Another seed makes another payload of the same size.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// The folder to write the .bin and the .zip in.
        #[arg(long, default_value = ".")]
        out: PathBuf,
    },
    /// Sign a package zip (one .bin inside): writes <name>_signed.zip beside it.
    Sign {
        /// The package zip that `make` wrote (<from>_<to>.zip).
        package: PathBuf,
        /// The private key (private.pem).
        #[arg(long)]
        key: PathBuf,
        /// The key's algorithm, checked against the key (by default: the key's).
        #[arg(long)]
        algorithm: Option<Algorithm>,
        #[command(flatten)]
        passphrase: PassphraseArgs,
    },
    /// Verify a signed package zip with a public key, as the platform does on upload.
    Verify {
        /// The signed package zip (<from>_<to>_signed.zip).
        package: PathBuf,
        /// The public key (public.pem).
        #[arg(long)]
        key: PathBuf,
    },
}

/// Where the private key's pass phrase comes from; with none of these, it is asked for on the
/// terminal.
#[derive(Debug, Args)]
#[group(multiple = false)]
struct PassphraseArgs {
    /// Read the pass phrase from the first line of FILE.
    #[arg(long, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
    /// Read the pass phrase from the environment variable VAR.
    #[arg(long, value_name = "VAR")]
    passphrase_env: Option<String>,
    /// The pass phrase itself, for scripts: other users of the machine can see it with `ps`.
    #[arg(long)]
    passphrase: Option<String>,
}

/// Runs `nbmodem fota …`.
pub fn run(args: FotaArgs) -> Result<ExitCode> {
    match args.command {
        FotaCommand::Keygen {
            algorithm,
            out,
            force,
            passphrase,
        } => keygen(algorithm, &out, force, &passphrase),
        FotaCommand::Make {
            from,
            to,
            size,
            seed,
            out,
        } => make(&from, &to, size, seed, &out),
        FotaCommand::Sign {
            package,
            key,
            algorithm,
            passphrase,
        } => sign(&package, &key, algorithm, &passphrase),
        FotaCommand::Verify { package, key } => verify(&package, &key),
    }
}

fn keygen(
    algorithm: Algorithm,
    out: &Path,
    force: bool,
    pass: &PassphraseArgs,
) -> Result<ExitCode> {
    let private = out.join("private.pem");
    let public = out.join("public.pem");
    if !force {
        if let Some(existing) = [&private, &public].into_iter().find(|p| p.exists()) {
            bail!("{} exists: give --force to replace it", existing.display());
        }
    }
    let passphrase = pass.read(true)?;
    eprintln!("nbmodem fota: making a key pair ({algorithm})");
    let pair = generate_key_pair(algorithm, passphrase.as_bytes())?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    write_file(&private, pair.private_pem.as_bytes(), 0o600)?;
    write_file(&public, pair.public_pem.as_bytes(), 0o644)?;
    println!("{algorithm} key pair:");
    println!("  {} (private, encrypted; keep it)", private.display());
    println!("  {} (public; upload it to the platform)", public.display());
    Ok(ExitCode::SUCCESS)
}

fn make(from: &str, to: &str, size: usize, seed: u64, out: &Path) -> Result<ExitCode> {
    let package = DeltaPackage::make(from, to, size, seed).context("making the delta package")?;
    let bin = package.encode();
    let bin_name = package.file_name();
    let zip = zip_package(&bin_name, &bin)?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let bin_path = out.join(&bin_name);
    let zip_path = bin_path.with_extension("zip");
    write_file(&bin_path, &bin, 0o644)?;
    write_file(&zip_path, &zip, 0o644)?;
    println!("delta package {from} → {to}, payload {size} bytes");
    println!(
        "  {} ({} bytes, SHA-256 {})",
        bin_path.display(),
        bin.len(),
        hex(&sha256(&bin))
    );
    println!(
        "  {} ({} bytes): sign this one",
        zip_path.display(),
        zip.len()
    );
    Ok(ExitCode::SUCCESS)
}

fn sign(
    package: &Path,
    key_file: &Path,
    algorithm: Option<Algorithm>,
    pass: &PassphraseArgs,
) -> Result<ExitCode> {
    let zip = read(package)?;
    let pem = std::fs::read_to_string(key_file)
        .with_context(|| format!("reading {}", key_file.display()))?;
    let passphrase = pass.read(false)?;
    let key = PrivateKey::from_encrypted_pem(&pem, passphrase.as_bytes())
        .with_context(|| format!("{}", key_file.display()))?;
    if let Some(wanted) = algorithm.filter(|a| *a != key.algorithm()) {
        bail!(
            "{}: an {} key, not {wanted}",
            key_file.display(),
            key.algorithm()
        );
    }
    let signed = sign_package_zip(&zip, &key).with_context(|| format!("{}", package.display()))?;
    let file_name = package
        .file_name()
        .ok_or_else(|| anyhow!("{} is not a file", package.display()))?;
    let out = package.with_file_name(signed_file_name(&file_name.to_string_lossy()));
    write_file(&out, &signed.bytes, 0o644)?;
    println!(
        "signed {} ({}, SHA-256 {})",
        signed.name,
        signed.algorithm,
        hex(&signed.sha256)
    );
    println!(
        "  {} ({} bytes): upload this one",
        out.display(),
        signed.bytes.len()
    );
    Ok(ExitCode::SUCCESS)
}

fn verify(package: &Path, key_file: &Path) -> Result<ExitCode> {
    let zip = read(package)?;
    let pem = std::fs::read_to_string(key_file)
        .with_context(|| format!("reading {}", key_file.display()))?;
    match verify_signed_zip(&zip, &pem) {
        Ok(p) => {
            println!(
                "{}: signature verified with {}",
                package.display(),
                key_file.display()
            );
            println!("  algorithm  {}", p.algorithm);
            println!("  package    {}", p.name);
            println!("  revisions  {} → {}", p.source, p.target);
            println!("  payload    {} bytes (digest checked)", p.payload_len);
            println!("  SHA-256    {}", hex(&p.sha256));
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!(
                "{}: NOT verified with {}: {e}",
                package.display(),
                key_file.display()
            );
            Ok(ExitCode::FAILURE)
        }
    }
}

impl PassphraseArgs {
    /// The pass phrase, from the option given or else the terminal (asked twice when `confirm`).
    fn read(&self, confirm: bool) -> Result<String> {
        let phrase = if let Some(file) = &self.passphrase_file {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("reading the pass phrase from {}", file.display()))?;
            text.lines().next().unwrap_or_default().to_string()
        } else if let Some(var) = &self.passphrase_env {
            std::env::var(var).with_context(|| format!("reading the pass phrase from ${var}"))?
        } else if let Some(phrase) = &self.passphrase {
            phrase.clone()
        } else {
            prompt(confirm)?
        };
        if phrase.is_empty() {
            bail!("the pass phrase is empty");
        }
        Ok(phrase)
    }
}

/// Asks for the pass phrase on the terminal, without echo, when the command runs on one.
fn prompt(confirm: bool) -> Result<String> {
    use std::io::IsTerminal;
    let no_terminal = "no terminal to ask the pass phrase on: give --passphrase-file, \
                       --passphrase-env or --passphrase";
    if !std::io::stdin().is_terminal() {
        bail!(no_terminal);
    }
    let tty = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .context(no_terminal)?;
    let first = ask(&tty, "pass phrase: ")?;
    if confirm && ask(&tty, "again: ")? != first {
        bail!("the two pass phrases differ");
    }
    Ok(first)
}

fn ask(tty: &std::fs::File, question: &str) -> Result<String> {
    use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg};
    let saved = tcgetattr(tty).context("reading the terminal's settings")?;
    let mut silent = saved.clone();
    silent.local_flags.remove(LocalFlags::ECHO);
    tcsetattr(tty, SetArg::TCSANOW, &silent).context("turning the terminal's echo off")?;
    let mut line = String::new();
    let answer = write!(&*tty, "{question}")
        .and_then(|()| std::io::BufReader::new(tty).read_line(&mut line));
    // The echo comes back even when reading failed.
    tcsetattr(tty, SetArg::TCSANOW, &saved).context("restoring the terminal's echo")?;
    writeln!(&*tty)?;
    answer.context("reading the pass phrase")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// Writes a whole file with `mode` (for a new file, and for a replaced one).
fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    // A replaced file keeps its old mode through open(): a private key must not stay readable.
    file.set_permissions(std::fs::Permissions::from_mode(mode))
        .and_then(|()| file.write_all(bytes))
        .with_context(|| format!("writing {}", path.display()))
}

/// A size in bytes: `4096`, `512B`, `100KiB`, `2MiB`.
fn parse_size(text: &str) -> Result<usize, String> {
    let units = [("MiB", 1 << 20), ("KiB", 1 << 10), ("B", 1)];
    let (number, unit) = units
        .iter()
        .find_map(|(suffix, unit)| Some((text.strip_suffix(suffix)?, *unit)))
        .unwrap_or((text, 1));
    number
        .trim()
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(unit))
        .ok_or_else(|| format!("{text:?} is not a size (e.g. 4096, 100KiB, 2MiB)"))
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_are_bytes_kib_or_mib() {
        assert_eq!(parse_size("100KiB"), Ok(102_400));
        assert_eq!(parse_size("2MiB"), Ok(2 << 20));
        assert_eq!(parse_size("512B"), Ok(512));
        assert_eq!(parse_size("77"), Ok(77));
        assert!(parse_size("1GB").is_err());
        assert!(parse_size("KiB").is_err());
    }
}
