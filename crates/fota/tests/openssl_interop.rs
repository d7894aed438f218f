//! Interoperability with the `openssl` command: the key files and signatures of `nbmodem fota`
//! are the ones OpenSSL writes and reads (`openssl dgst -sha256 -sign/-verify`, encrypted PKCS#8
//! private keys, SubjectPublicKeyInfo public keys), for both of the seed's algorithms.
//!
//! Skipped, with a message, when there is no `openssl` command, unless `NBMODEM_INTEROP` is set
//! (as `scripts/test` does): then a missing command fails.

use nbmodem_fota::archive::{sign_package_zip, zip_package};
use nbmodem_fota::signing::{generate_key_pair, sha256};
use nbmodem_fota::{verify_signed_zip, Algorithm, DeltaPackage, PrivateKey, PublicKey};
use std::path::Path;
use std::process::Command;

const PASS: &str = "Quectel123";

/// Runs `openssl ARGS` in `dir`; its standard output, or a panic naming what it said.
fn openssl(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("running openssl");
    assert!(
        out.status.success(),
        "openssl {}: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn openssl_available() -> bool {
    let works = Command::new("openssl")
        .arg("version")
        .status()
        .is_ok_and(|status| status.success());
    // scripts/test installs openssl and sets NBMODEM_INTEROP: there a missing command fails.
    let required = std::env::var_os("NBMODEM_INTEROP").is_some();
    assert!(
        works || !required,
        "NBMODEM_INTEROP is set but `openssl` does not run"
    );
    if !works {
        eprintln!("skipping the openssl interoperability test: no `openssl` command");
    }
    works
}

/// A delta package written to `dir`; its file name.
fn write_package(dir: &Path) -> String {
    let package =
        DeltaPackage::make("BC260YCNAAR02A01", "BC260YCNAAR02A01_BETA1230A", 5000, 3).unwrap();
    std::fs::write(dir.join(package.file_name()), package.encode()).unwrap();
    package.file_name()
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap()
}

#[test]
fn openssl_verifies_our_signatures_and_reads_our_keys() {
    if !openssl_available() {
        return;
    }
    for algorithm in Algorithm::ALL {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        let pair = generate_key_pair(algorithm, PASS.as_bytes()).unwrap();
        std::fs::write(dir.join("private.pem"), &pair.private_pem).unwrap();
        std::fs::write(dir.join("public.pem"), &pair.public_pem).unwrap();
        let bin = write_package(dir);
        let key = PrivateKey::from_encrypted_pem(&pair.private_pem, PASS.as_bytes()).unwrap();
        let digest = sha256(&std::fs::read(dir.join(&bin)).unwrap());
        std::fs::write(dir.join("x.sig"), key.sign_digest(&digest).unwrap()).unwrap();

        let verified = openssl(
            dir,
            &[
                "dgst",
                "-sha256",
                "-verify",
                "public.pem",
                "-signature",
                "x.sig",
                &bin,
            ],
        );
        assert_eq!(verified.trim(), "Verified OK", "{algorithm}");
        // The private key decrypts with the pass phrase, and is the public key's.
        let passin = format!("pass:{PASS}");
        let public = openssl(
            dir,
            &["pkey", "-in", "private.pem", "-passin", &passin, "-pubout"],
        );
        assert_eq!(public, pair.public_pem, "{algorithm}");
    }
}

#[test]
fn we_read_openssls_keys_and_verify_its_signatures() {
    if !openssl_available() {
        return;
    }
    let passout = format!("pass:{PASS}");
    let make_keys: [(Algorithm, &[&str]); 2] = [
        (
            Algorithm::Rsa2048Sha256,
            &[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
                "plain.pem",
            ],
        ),
        (
            Algorithm::EcdsaSecp256k1Sha256,
            &[
                "ecparam",
                "-name",
                "secp256k1",
                "-genkey",
                "-noout",
                "-out",
                "plain.pem",
            ],
        ),
    ];
    for (algorithm, make_key) in make_keys {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        openssl(dir, make_key);
        openssl(
            dir,
            &[
                "pkcs8",
                "-topk8",
                "-v2",
                "aes-256-cbc",
                "-in",
                "plain.pem",
                "-passout",
                &passout,
                "-out",
                "private.pem",
            ],
        );
        openssl(
            dir,
            &["pkey", "-in", "plain.pem", "-pubout", "-out", "public.pem"],
        );
        let bin = write_package(dir);
        let public = PublicKey::from_pem(&read(dir, "public.pem")).unwrap();
        assert_eq!(public.algorithm(), algorithm);
        let bytes = std::fs::read(dir.join(&bin)).unwrap();
        // OpenSSL's ECDSA signatures have a high S half the time: eight of them cover both.
        for _ in 0..8 {
            let sign = [
                "dgst",
                "-sha256",
                "-sign",
                "private.pem",
                "-passin",
                &passout,
            ];
            openssl(dir, &[&sign[..], &["-out", "x.sig", &bin]].concat());
            let signature = std::fs::read(dir.join("x.sig")).unwrap();
            let verified = public.verify_digest(&sha256(&bytes), &signature);
            assert_eq!(verified, Ok(()), "{algorithm}");
        }

        // Their encrypted private key signs a package archive that their public key verifies.
        let key =
            PrivateKey::from_encrypted_pem(&read(dir, "private.pem"), PASS.as_bytes()).unwrap();
        assert_eq!(key.algorithm(), algorithm);
        let signed = sign_package_zip(&zip_package(&bin, &bytes).unwrap(), &key).unwrap();
        let package = verify_signed_zip(&signed.bytes, &read(dir, "public.pem")).unwrap();
        assert_eq!(package.bin, bytes);
    }
}
