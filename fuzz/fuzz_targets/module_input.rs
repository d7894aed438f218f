//! Fuzzes a booted BC25 module (NVRAM in memory) with arbitrary host input, one byte at a time.
//! A `LineAssembler` beside the module tells when a line is complete; the invariant checked is
//! the AT response discipline: every completed non-blank line (or over-long line) is answered with
//! exactly one final result (`OK`, `ERROR` or `+CME ERROR: …`), and a blank line or a byte that
//! does not end a line with none. Timers that fall due (AT+CFUN=1,1 reboots) are run, and a reboot
//! is waited out, so the fuzzer reaches the module after a restart too.

#![no_main]

use libfuzzer_sys::fuzz_target;
use nbmodem_at::{LineAssembler, LineEvent};
use nbmodem_clock::{Instant, Timed};
use nbmodem_module::{find_profile, MemoryStore, Module, ModuleConfig, BOOT_TIME};

/// How many final results `chunk` holds: framed lines that are `OK`, `ERROR` or `+CME ERROR: …`.
/// An echoed line terminator in the chunk only adds an empty piece.
fn final_results(chunk: &[u8]) -> usize {
    chunk
        .split(|&b| b == b'\r' || b == b'\n')
        .filter(|line| *line == b"OK" || *line == b"ERROR" || line.starts_with(b"+CME ERROR: "))
        .count()
}

/// Runs the timers that are due, and if the module is rebooting, moves time on until it is ready.
/// Returns whether it rebooted (its line buffer is then empty).
fn run_timers(module: &mut Module, now: &mut Instant) -> bool {
    if module.poll_timeout().is_some_and(|t| t <= *now) {
        module.handle_timeout(*now);
    }
    let rebooted = !module.is_ready();
    while !module.is_ready() {
        let due = module
            .poll_timeout()
            .expect("a rebooting module has a boot timer");
        *now = (*now).max(due);
        module.handle_timeout(*now);
    }
    let _ = module.take_output();
    rebooted
}

fuzz_target!(|data: &[u8]| {
    let profile = find_profile("BC25").expect("BC25 profile");
    let mut module = Module::new(ModuleConfig::new(profile), Box::new(MemoryStore::new()))
        .expect("module on an empty store");
    let mut now = Instant::from_unix_millis(1_700_000_000_000);
    module.power_on(now);
    now = now + BOOT_TIME;
    module.handle_timeout(now);
    assert!(module.is_ready());
    let _ = module.take_output();

    let mut lines = LineAssembler::new();
    for &byte in data {
        module.receive(&[byte], now);
        let out = module.take_output();
        let expected = match lines.push(byte) {
            None => 0,
            Some(LineEvent::Line(line)) if line.iter().all(u8::is_ascii_whitespace) => 0,
            Some(LineEvent::Line(_) | LineEvent::TooLong) => 1,
        };
        assert_eq!(
            final_results(&out),
            expected,
            "byte {byte:#04x} was answered with {:?}",
            String::from_utf8_lossy(&out)
        );
        if run_timers(&mut module, &mut now) {
            lines = LineAssembler::new();
        }
    }
});
