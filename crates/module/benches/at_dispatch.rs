//! Throughput of AT parse + dispatch + format: typical command lines fed to a booted BC25 module
//! (echo off, NVRAM in memory), one `receive` and one `take_output` per line, as a driver does.
//! Reported in lines per second.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use nbmodem_clock::{Instant, Timed};
use nbmodem_module::{find_profile, MemoryStore, Module, ModuleConfig, BOOT_TIME};
use std::hint::black_box;

/// Read-only commands a host MCU sends all the time: none writes NVRAM or reboots.
const LINES: &[&[u8]] = &[
    b"AT+CSQ\r",
    b"AT+CEREG?\r",
    b"AT+CGSN=1\r",
    b"AT+QSCLK?\r",
    b"AT\r",
    b"AT+CGATT?\r",
];

/// A BC25 that has booted, with echo off and its boot output taken.
fn booted_module(now: Instant) -> Module {
    let profile = find_profile("BC25").expect("BC25 profile");
    let mut module = Module::new(ModuleConfig::new(profile), Box::new(MemoryStore::new()))
        .expect("module on an empty store");
    module.power_on(now);
    module.handle_timeout(now + BOOT_TIME);
    assert!(module.is_ready(), "module did not boot");
    module.receive(b"ATE0\r", now + BOOT_TIME);
    let out = module.take_output();
    assert!(out.ends_with(b"\r\nOK\r\n"), "ATE0 answered {out:?}");
    module
}

fn bench_dispatch(c: &mut Criterion) {
    let start = Instant::from_unix_millis(1_700_000_000_000);
    let now = start + BOOT_TIME;
    let mut module = booted_module(start);

    // Every line must be answered with OK, or the benchmark measures an error path.
    for line in LINES {
        module.receive(line, now);
        let out = module.take_output();
        assert!(
            out.ends_with(b"\r\nOK\r\n"),
            "{:?} answered {:?}",
            String::from_utf8_lossy(line),
            String::from_utf8_lossy(&out)
        );
    }

    let mut group = c.benchmark_group("at_dispatch");
    group.throughput(Throughput::Elements(LINES.len() as u64));
    group.bench_function("typical_lines", |b| {
        b.iter(|| {
            let mut total = 0;
            for line in LINES {
                module.receive(black_box(line), now);
                total += black_box(module.take_output()).len();
            }
            total
        })
    });

    group.throughput(Throughput::Elements(1));
    for line in LINES {
        let name = String::from_utf8_lossy(&line[..line.len() - 1]).into_owned();
        group.bench_function(name, |b| {
            b.iter(|| {
                module.receive(black_box(line), now);
                black_box(module.take_output())
            })
        });
    }

    group.finish();

    // The cost of building and booting a module, for comparison with the per-line cost.
    c.bench_function("module_boot", |b| {
        b.iter_batched(|| start, booted_module, BatchSize::SmallInput)
    });
}

criterion_group!(benches, bench_dispatch);
criterion_main!(benches);
