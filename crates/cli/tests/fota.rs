//! `nbmodem fota` as a user runs it, following seed 002 §5.1.3–5.1.4: make a key pair, make a delta
//! package zip, sign it, verify the signed zip — and the refusals a user meets on the way.

use std::path::Path;
use std::process::{Command, Stdio};

const NBMODEM: &str = env!("CARGO_BIN_EXE_nbmodem");
const ZIP: &str = "BC260YCNAAR02A01_BC260YCNAAR02A01_BETA1230A.zip";
const SIGNED: &str = "BC260YCNAAR02A01_BC260YCNAAR02A01_BETA1230A_signed.zip";

/// Runs `nbmodem fota ARGS` in `dir`: its exit code, standard output and standard error.
fn fota(dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(NBMODEM)
        .arg("fota")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .env("NBMODEM_TEST_PASS", "Quectel123")
        .output()
        .unwrap();
    let text = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).into_owned();
    (out.status.code(), text(out.stdout), text(out.stderr))
}

/// Runs `nbmodem fota ARGS` in `dir` and expects success; its standard output.
fn fota_ok(dir: &Path, args: &[&str]) -> String {
    let (code, out, err) = fota(dir, args);
    assert_eq!(code, Some(0), "nbmodem fota {}: {out}{err}", args.join(" "));
    out
}

/// `nbmodem fota keygen` of an ECDSA key pair into `out`, the pass phrase from `pass.txt`.
fn ecdsa_keygen(dir: &Path, out: &str) {
    let args = [
        "--algorithm",
        "ECDSA_256K1+SHA256",
        "--passphrase-file",
        "pass.txt",
    ];
    fota_ok(dir, &[&["keygen", "--out", out], &args[..]].concat());
}

#[test]
fn keygen_make_sign_verify() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("pass.txt"), "Quectel123\n").unwrap();
    ecdsa_keygen(dir, "keys");
    let mode = |p: &str| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(dir.join(p)).unwrap().permissions().mode() & 0o777
    };
    assert_eq!(mode("keys/private.pem"), 0o600);
    let private = std::fs::read_to_string(dir.join("keys/private.pem")).unwrap();
    assert!(private.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));

    let made = fota_ok(
        dir,
        &[
            "make",
            "--from",
            "BC260YCNAAR02A01",
            "--to",
            "BC260YCNAAR02A01_BETA1230A",
            "--size",
            "100KiB",
        ],
    );
    assert!(made.contains("payload 102400 bytes"), "{made}");
    assert!(dir
        .join("BC260YCNAAR02A01_BC260YCNAAR02A01_BETA1230A.bin")
        .exists());

    let signed = fota_ok(
        dir,
        &[
            "sign",
            ZIP,
            "--key",
            "keys/private.pem",
            "--passphrase-env",
            "NBMODEM_TEST_PASS",
        ],
    );
    assert!(signed.contains("ECDSA_256K1+SHA256"), "{signed}");
    let verified = fota_ok(dir, &["verify", SIGNED, "--key", "keys/public.pem"]);
    for line in [
        "signature verified",
        "ECDSA_256K1+SHA256",
        "BC260YCNAAR02A01 → BC260YCNAAR02A01_BETA1230A",
        "payload    102400 bytes",
    ] {
        assert!(verified.contains(line), "{line:?} in {verified}");
    }

    // Another key pair of the same kind: the signature does not match, exit 1 with the reason.
    ecdsa_keygen(dir, "other");
    let (code, out, _) = fota(dir, &["verify", SIGNED, "--key", "other/public.pem"]);
    assert_eq!(code, Some(1));
    assert!(
        out.contains("NOT verified") && out.contains("signature does not match"),
        "{out}"
    );
}

#[test]
fn mistakes_are_explained() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let keygen = [
        "keygen",
        "--algorithm",
        "ECDSA_256K1+SHA256",
        "--passphrase",
        "Quectel123",
    ];
    fota_ok(dir, &keygen);
    let (code, _, err) = fota(dir, &keygen);
    assert_eq!(code, Some(2));
    assert!(err.contains("private.pem exists: give --force"), "{err}");
    fota_ok(dir, &[&keygen[..], &["--force"]].concat());

    let (code, _, err) = fota(dir, &["keygen", "--out", "k"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("--passphrase-file"), "{err}");

    fota_ok(dir, &["make", "--from", "A", "--to", "B", "--size", "10"]);
    let sign = |passphrase: &str, extra: &[&str]| {
        let args = [
            &[
                "sign",
                "A_B.zip",
                "--key",
                "private.pem",
                "--passphrase",
                passphrase,
            ],
            extra,
        ]
        .concat();
        fota(dir, &args)
    };
    let (code, _, err) = sign("Quectel124", &[]);
    assert_eq!(code, Some(2));
    assert!(err.contains("private.pem: wrong pass phrase"), "{err}");
    let (code, _, err) = sign("Quectel123", &["--algorithm", "RSA2048+SHA256"]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("ECDSA_256K1+SHA256 key, not RSA2048+SHA256"),
        "{err}"
    );

    std::fs::write(dir.join("A_B.zip"), "not a zip").unwrap();
    let (code, _, err) = sign("Quectel123", &[]);
    assert_eq!(code, Some(2));
    assert!(err.contains("A_B.zip: not a zip archive"), "{err}");
    let (code, out, _) = fota(dir, &["verify", "A_B.zip", "--key", "public.pem"]);
    assert_eq!(code, Some(1));
    assert!(
        out.contains("A_B.zip: NOT verified") && out.contains("not a zip archive"),
        "{out}"
    );
}
