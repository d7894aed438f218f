//! The DM encryption checked against an independent AES-256-CBC: the `openssl enc` command (its
//! own code path, not the library calls our code makes), both ways, with the key derived by
//! `openssl dgst -sha256`.

use nbmodem_operators::dm;
use std::io::Write;
use std::process::{Command, Stdio};

fn openssl(args: &[&str], input: &[u8]) -> Option<Vec<u8>> {
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    child.stdin.take()?.write_all(input).ok()?;
    let out = child.wait_with_output().ok()?;
    out.status.success().then_some(out.stdout)
}

/// SHA-256 of the password as hex, by the openssl command.
fn key_hex(password: &str) -> Option<String> {
    let digest = openssl(&["dgst", "-sha256", "-r"], password.as_bytes())?;
    Some(
        String::from_utf8(digest)
            .ok()?
            .split_whitespace()
            .next()?
            .to_string(),
    )
}

#[test]
fn our_ciphertext_decrypts_with_openssl_and_theirs_with_ours() {
    let password = "77GaaTUi33nUK05ha528888QFbk0Y38M";
    let Some(key) = key_hex(password) else {
        assert!(
            std::env::var_os("NBMODEM_INTEROP").is_none(),
            "the openssl command is missing: apt-get install openssl"
        );
        eprintln!("skipped: no openssl command");
        return;
    };
    let iv = "0".repeat(32);
    let aes = |direction: &'static str| {
        [
            "enc",
            direction,
            "-aes-256-cbc",
            "-K",
            &key,
            "-iv",
            &iv,
            "-base64",
            "-A",
        ]
    };
    let plaintext = "863703030822519-****-460040000000001-v2.0";

    let ours = dm::encrypt(password, plaintext);
    let decrypted =
        openssl(&aes("-d"), format!("{ours}\n").as_bytes()).expect("openssl decrypts our value");
    assert_eq!(String::from_utf8(decrypted).unwrap(), plaintext);

    let theirs = openssl(&aes("-e"), plaintext.as_bytes()).expect("openssl encrypts");
    let theirs = String::from_utf8(theirs).unwrap();
    assert_eq!(theirs.trim(), ours, "the same bytes as ours");
    assert_eq!(dm::decrypt(password, theirs.trim()).unwrap(), plaintext);
}
