//! The web console as a person sees it: headless Chromium (Debian's `chromium` and
//! `chromium-driver`) driven over WebDriver by Selenium from PyPI, against `nbmodem sandbox` (free
//! ports, the AT port on a pseudo-terminal). The script, `tests/peers/console_browser.py`, logs in
//! with the token, watches the module register and its `AT+NMGS` uplink arrive without a reload,
//! sends a raw downlink from the device page and sees `+NNMI` on the module, switches a fault on
//! and finds it in force through the API; creates a product with the compact codec, tries it with
//! online debugging, gives it to the module, sees the module's uplink decoded (and charted) and
//! sends a command the module receives; then gives the module a product from seed 002's DFOTA
//! Profile file, and on the FOTA page adds the manufacturer's `public.pem`, uploads a signed
//! package (both made here with `nbmodem fota`) and creates a task for the module, and follows the
//! task's progress bar, without a reload, through waiting, downloading and updating to succeeded
//! while the module downloads, updates (its `+QIND: "FOTA",…` URCs), reboots and reports at its
//! next registration, as in seed 002 §5.1.6.2. It fails on any browser console error. A screenshot
//! of each page is kept in `target/console-screenshots/` (the FOTA page while updating and at
//! success).
//!
//! `scripts/test` installs the browser and Selenium and sets `NBMODEM_INTEROP`, which turns a
//! missing one into a failure; without it, the test notes what is missing and passes.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

mod support;
use support::sandbox_on_pty;

const NBMODEM: &str = env!("CARGO_BIN_EXE_nbmodem");
const INSTALL: &str =
    "apt-get install chromium chromium-driver && python3 -m pip install selenium==4.51.0";

/// Whether the browser, its driver and Selenium are there. When not: a failure under
/// `NBMODEM_INTEROP`, else a note.
fn browser_available() -> bool {
    let selenium = Command::new("python3")
        .args(["-c", "import selenium"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let present = selenium
        && ["/usr/bin/chromium", "/usr/bin/chromedriver"]
            .iter()
            .all(|p| Path::new(p).exists());
    if present {
        return true;
    }
    if std::env::var_os("NBMODEM_INTEROP").is_some() {
        panic!("Chromium, its WebDriver or Selenium is not installed; install them with `{INSTALL}` (scripts/test does)");
    }
    eprintln!("note: console browser test skipped: Chromium, chromium-driver or Selenium is missing (`{INSTALL}`)");
    false
}

/// The value of the banner line starting with `name `.
fn banner_value(banner: &str, name: &str) -> String {
    banner
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no `{name}` line in the banner:\n{banner}"))
        .to_string()
}

/// What a manufacturer brings to the FOTA page, made in `dir` as docs/fota.md makes them: an ECDSA
/// key pair (`public.pem`) and a small delta package from the sandbox module's revision, signed
/// (`…_signed.zip`). 16 KiB: 32 blocks, a few seconds of download on the sandbox's radio, long
/// enough to be seen downloading and short enough for a test.
fn manufacturer_files(dir: &Path) {
    let steps: [&[&str]; 3] = [
        &[
            "keygen",
            "--algorithm",
            "ECDSA_256K1+SHA256",
            "--passphrase",
            "Quectel123",
        ],
        &[
            "make",
            "--from",
            "BC260YCNAAR02A01",
            "--to",
            "BC260YCNAAR02A01_BETA1230A",
            "--size",
            "16KiB",
        ],
        &[
            "sign",
            "BC260YCNAAR02A01_BC260YCNAAR02A01_BETA1230A.zip",
            "--key",
            "private.pem",
            "--passphrase",
            "Quectel123",
        ],
    ];
    for step in steps {
        let out = Command::new(NBMODEM)
            .arg("fota")
            .args(step)
            .current_dir(dir)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "nbmodem fota {step:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Where the screenshots go: the build's target directory.
fn screenshots() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("console-screenshots")
}

#[test]
fn a_person_follows_the_sandbox_module_in_the_console() {
    if !browser_available() {
        return;
    }
    // Only this run's screenshots (a failure's among them) are left.
    let _ = std::fs::remove_dir_all(screenshots());
    let cwd = tempfile::tempdir().unwrap();
    let link = cwd.path().join("ttyNB0");
    let (_sandbox, banner) = sandbox_on_pty(cwd.path(), &link, &[]);
    let console = banner_value(&banner, "console");
    assert!(console.starts_with("http://127.0.0.1:") && console.ends_with("/console"));
    let token = cwd.path().join(banner_value(&banner, "token"));
    let manufacturer = tempfile::tempdir().unwrap();
    manufacturer_files(manufacturer.path());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/peers/console_browser.py");
    let mut browser = Command::new("python3")
        .arg("-u")
        .arg(script)
        .arg(&console)
        .arg(token)
        .arg(&link)
        .arg(screenshots())
        .arg(manufacturer.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut output = String::new();
    browser
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut output)
        .unwrap();
    let mut errors = String::new();
    let _ = browser.stderr.take().unwrap().read_to_string(&mut errors);
    let status = browser.wait().unwrap();
    assert!(
        status.success() && output.contains("CONSOLE OK"),
        "the browser run failed (screenshots in {}):\n{output}\n{errors}",
        screenshots().display()
    );
    for page in [
        "login",
        "devices",
        "device",
        "standins",
        "products",
        "device-codec",
        "fota-updating",
        "fota",
    ] {
        assert!(screenshots().join(format!("{page}.png")).exists(), "{page}");
    }
}
