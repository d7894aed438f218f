//! Bad input is normal input: random command lines, well-formed or not, never crash a module of any
//! model, and each non-blank line gets exactly one final result.

use nbmodem_module::PROFILES;
use nbmodem_scenario::Bench;
use proptest::prelude::*;

/// The final result codes: `OK`, `ERROR`, `+CME ERROR: …`.
fn count_final_results(output: &[u8]) -> usize {
    String::from_utf8_lossy(output)
        .split("\r\n")
        .filter(|l| *l == "OK" || *l == "ERROR" || l.starts_with("+CME ERROR: "))
        .count()
}

fn command_names() -> Vec<String> {
    let mut names: Vec<String> = PROFILES
        .iter()
        .flat_map(|p| p.commands().names())
        .map(|n| n.to_string())
        .collect();
    names.sort();
    names.dedup();
    names.extend(["+NOSUCH", "+", "&W", "Z"].map(String::from));
    names
}

fn param() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u64..100_000).prop_map(|n| n.to_string()),
        Just(String::new()),
        "[ -~&&[^\"]]{0,12}".prop_map(|s| format!("\"{s}\"")),
        "[ -~]{0,8}",
        any::<u64>().prop_map(|n| n.to_string()),
    ]
}

fn command_line() -> impl Strategy<Value = Vec<u8>> {
    let structured = (
        prop::sample::select(command_names()),
        prop::sample::select(vec!["", "?", "=?", "="]),
        prop::collection::vec(param(), 0..6),
        prop::bool::ANY,
    )
        .prop_map(|(name, form, params, lower)| {
            let prefix = if lower { "at" } else { "AT" };
            let list = if form == "=" {
                params.join(",")
            } else {
                String::new()
            };
            format!("{prefix}{name}{form}{list}").into_bytes()
        });
    // Anything but the line terminators and the two backspaces (BS and DEL), which edit or end the
    // line itself.
    let garbage = prop::collection::vec(
        any::<u8>().prop_filter("not a line end", |b| !b"\r\n\x08\x7f".contains(b)),
        1..80,
    );
    prop_oneof![4 => structured, 1 => garbage].prop_filter("not blank", |line| {
        !line.iter().all(u8::is_ascii_whitespace)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn every_line_gets_exactly_one_final_result(
        model in 0..PROFILES.len(),
        lines in prop::collection::vec(command_line(), 1..40),
    ) {
        let mut bench = Bench::booted(PROFILES[model].model);
        for line in lines {
            let mut bytes = line.clone();
            bytes.push(b'\r');
            bench.send_raw(&bytes);
            // Runs what the line made due now: a reboot it asked for.
            bench.advance(std::time::Duration::ZERO);
            let mut output = bench.take_raw();
            if !bench.module().is_ready() {
                // The line rebooted the module (AT+QRST=1, AT+CFUN=1,1, AT+NRB): let it boot
                // again. AT+NRB's final result is the `OK` that ends the Neul boot banner.
                bench.advance(nbmodem_module::BOOT_TIME);
                let boot = bench.take_raw();
                if count_final_results(&output) == 0 {
                    output.extend(boot);
                }
            }
            prop_assert_eq!(
                count_final_results(&output), 1,
                "line {:?} gave {:?}", String::from_utf8_lossy(&line), String::from_utf8_lossy(&output)
            );
        }
    }
}
