//! The AT examples of seeds 000, 001, 003 and 004 for the self-registration and DM configuration
//! commands, reproduced byte for byte (echo off; each answer framed `\r\n…\r\n\r\nOK\r\n`).
//!
//! Two examples carry typing errors that a module cannot reproduce, and the tests follow what the
//! command itself does (docs/decisions.md): seed 001's `+QDMPCFG: 2,M100000089, 95Go****,…` (a stray
//! space after the comma) and seed 003's `+QDMPCFGEX: 3,BC26NB0R01A07,Quectel` read after setting
//! `BC26NBR01A07`. The DM state examples (`6,6`, `6,11`) need a running DM session and are checked
//! by the DM scenario tests.

use nbmodem_scenario::{Bench, ModuleSetup};

fn booted(model: &str, firmware: Option<&str>) -> Bench {
    let mut setup = ModuleSetup::model(model);
    setup.firmware = firmware.map(String::from);
    let mut bench = Bench::new(setup).unwrap();
    bench.power_on();
    bench.advance(nbmodem_module::BOOT_TIME);
    bench.take_raw();
    bench.at("ATE0");
    bench
}

/// Plays `(command, answer lines)` pairs; each answer must be exactly the lines and OK.
fn transcript(bench: &mut Bench, steps: &[(&str, &[&str])]) {
    for (command, lines) in steps {
        let mut want = String::new();
        if !lines.is_empty() {
            want = format!("\r\n{}\r\n", lines.join("\r\n"));
        }
        want.push_str("\r\nOK\r\n");
        assert_eq!(bench.at(command), want, "{command}");
    }
}

/// The reboot that puts saved settings in use, with the model's own command.
fn reboot(bench: &mut Bench) {
    let command = bench.module().profile().reboot_command;
    bench.at(command);
    bench.advance(nbmodem_module::BOOT_TIME);
    bench.take_raw();
    bench.at("ATE0");
}

#[test]
fn seed_000_qselfregister() {
    // The example reads 0: a firmware after BC25PAR01A04, where the default is off.
    let mut bench = booted("BC25", Some("BC25PAR01A05"));
    transcript(
        &mut bench,
        &[
            ("AT+QSELFREGISTER?", &["+QSELFREGISTER: 0"]),
            ("AT+QSELFREGISTER=1", &[]),
        ],
    );
    transcript(&mut bench, &[("AT+QSELFREGISTER?", &["+QSELFREGISTER: 1"])]);
}

#[test]
fn qselfregister_default_follows_the_firmware_table() {
    for (model, firmware, default) in [
        ("BC25", "BC25PAR01A04", 1),
        ("BC25", "BC25PAR01A05", 0),
        ("BC25", "BC25PAR01A03_BT", 1),
        ("BC25", "BC25PAR01A04_BT", 0),
        ("BC25-B5", "BC25B5PAR01A04", 1),
        ("BC25-B8", "BC25B8PAR01A05", 1),
        ("BC25-B8", "BC25B8PAR01A06", 0),
        ("BC32", "BC32RAR01A03", 1),
        ("BC32-B8", "BC32B8RAR01A04", 0),
    ] {
        let mut bench = booted(model, Some(firmware));
        let want = format!("+QSELFREGISTER: {default}");
        transcript(&mut bench, &[("AT+QSELFREGISTER?", &[want.as_str()])]);
    }
}

/// Seed 000 §3.2.1 (BC25/BC32) and, with the same lines, seed 001 §3.2.2 (BC260Y-CN) and seed 003
/// (BC26, BC20).
fn qdmpcfg_example(model: &str) {
    let mut bench = booted(model, None);
    // The read shows the settings in use: configure them, and reboot.
    transcript(
        &mut bench,
        &[
            ("AT+QDMPCFG=1,117.161.2.41,5683,420", &[]),
            ("AT+QDMPCFG=2,\"M100000089\",\"95Go0000000000000000000000000000\",1,863703030822519", &[]),
        ],
    );
    reboot(&mut bench);
    transcript(
        &mut bench,
        &[
            ("AT+QDMPCFG?", &["+QDMPCFG: 0,1", "+QDMPCFG: 1,117.161.2.41,5683,420", "+QDMPCFG: 2,M100000089,95Go****,1,863703030822519"]),
            ("AT+QDMPCFG=0,0", &[]),
            ("AT+QDMPCFG=4,0", &["+QDMPCFG: 0,0"]),
            ("AT+QDMPCFG=1,117.161.2.7,5683,420", &[]),
            ("AT+QDMPCFG=4,1", &["+QDMPCFG: 1,117.161.2.7,5683,420"]),
            ("AT+QDMPCFG=2,\"M100000089\",\"77GaaTUi33nUK05ha528888QFbk0Y38M\",1,863703030822519", &[]),
            ("AT+QDMPCFG=4,2", &["+QDMPCFG: 2,M100000089,77Ga****,1,863703030822519"]),
            ("AT+QDMPCFG=5,4", &[]),
        ],
    );
    // The settings in use did not change; the saved ones are back to their defaults.
    transcript(&mut bench, &[("AT+QDMPCFG=4,0", &["+QDMPCFG: 0,1"])]);
}

#[test]
fn seed_000_qdmpcfg() {
    qdmpcfg_example("BC25");
    qdmpcfg_example("BC32");
}

#[test]
fn seed_001_and_003_qdmpcfg() {
    qdmpcfg_example("BC260Y-CN");
    qdmpcfg_example("BC26");
    qdmpcfg_example("BC20");
}

#[test]
fn seed_001_qdmpcfg_with_the_masked_password_of_the_example() {
    let mut bench = booted("BC260Y-CN", None);
    transcript(
        &mut bench,
        &[
            (
                "AT+QDMPCFG=2,\"M100000089\",\"95Go****\",1,863703030822519",
                &[],
            ),
            (
                "AT+QDMPCFG=4,2",
                &["+QDMPCFG: 2,M100000089,95Go****,1,863703030822519"],
            ),
            ("AT+QDMPCFG=5,4", &[]),
        ],
    );
}

/// The AT+QDMPCFGEX examples (seed 000; seeds 001 and 003 differ only in values).
fn qdmpcfgex_example(model: &str, rom: [&str; 4], software: [&str; 2]) {
    let mut bench = booted(model, None);
    let apps = "Douyin|FW1|990650|9123;Wechat|FW02|80650|9201;QQ|FW03|11650|92551;Alipay|FW88|22650|5555;Zhihu|FW333|77750|65101";
    let set_rom = format!(
        "AT+QDMPCFGEX=2,0,\"{}\",\"{}\",\"{}\",\"{}\"",
        rom[0], rom[1], rom[2], rom[3]
    );
    let read_rom = format!("+QDMPCFGEX: 2,{}", rom.join(","));
    let set_sw = format!("AT+QDMPCFGEX=3,0,\"{}\",\"{}\"", software[0], software[1]);
    let read_sw = format!("+QDMPCFGEX: 3,{}", software.join(","));
    transcript(
        &mut bench,
        &[
            (&format!("AT+QDMPCFGEX=0,0,\"{apps}\""), &[]),
            (
                "AT+QDMPCFGEX=0,1",
                &[format!("+QDMPCFGEX: 0,{apps}").as_str()],
            ),
            ("AT+QDMPCFGEX=0,2", &[]),
            ("AT+QDMPCFGEX=1,0,\"00-01-6C-06-A6-29\"", &[]),
            ("AT+QDMPCFGEX=1,1", &["+QDMPCFGEX: 1,00-01-6C-06-A6-29"]),
            ("AT+QDMPCFGEX=1,2", &[]),
            (&set_rom, &[]),
            ("AT+QDMPCFGEX=2,1", &[read_rom.as_str()]),
            ("AT+QDMPCFGEX=2,2", &[]),
            (&set_sw, &[]),
            ("AT+QDMPCFGEX=3,1", &[read_sw.as_str()]),
            ("AT+QDMPCFGEX=3,2", &[]),
            (
                "AT+QDMPCFGEX=4,0,\"off\",\"NB-IoT\",\"XY05553867549\",\"18009699999\"",
                &[],
            ),
            (
                "AT+QDMPCFGEX=4,1",
                &["+QDMPCFGEX: 4,off,NB-IoT,XY05553867549,18009699999"],
            ),
            ("AT+QDMPCFGEX=4,2", &[]),
            (
                "AT+QDMPCFGEX=5,0,\"31.8438799075,117.2025477950,OTDOA\"",
                &[],
            ),
            (
                "AT+QDMPCFGEX=5,1",
                &["+QDMPCFGEX: 5,31.8438799075,117.2025477950,OTDOA"],
            ),
            ("AT+QDMPCFGEX=5,2", &[]),
            // Erased values read NULL.
            ("AT+QDMPCFGEX=2,1", &["+QDMPCFGEX: 2,NULL,NULL,NULL,NULL"]),
        ],
    );
}

#[test]
fn seed_000_qdmpcfgex() {
    qdmpcfgex_example(
        "BC25",
        ["8192KB", "4096KB", "RDA8909B", "SX RTOS"],
        ["BC32B8R01A01", "Quectel"],
    );
}

#[test]
fn seed_001_and_003_qdmpcfgex() {
    qdmpcfgex_example(
        "BC260Y-CN",
        ["4096KB", "4096KB", "EC616", "FREE RTOS"],
        ["BC260YCNAAR01A03", "Quectel"],
    );
    qdmpcfgex_example(
        "BC26",
        ["4096KB", "4096KB", "EC616", "FREE RTOS"],
        ["BC26NBR01A07", "Quectel"],
    );
}

#[test]
fn seed_001_qsregenable() {
    let mut bench = booted("BC260Y-CN", None);
    transcript(
        &mut bench,
        &[
            ("AT+QSREGENABLE?", &["+QSREGENABLE: 0"]),
            ("AT+QSREGENABLE=1", &[]),
        ],
    );
    transcript(&mut bench, &[("AT+QSREGENABLE?", &["+QSREGENABLE: 1"])]);
    assert_eq!(
        bench.at("AT+QSREGENABLE=2"),
        "\r\nERROR\r\n",
        "plain ERROR, whatever AT+CMEE says"
    );
}

#[test]
fn seed_001_qsregenable_reads_3_after_an_update_from_a03() {
    let mut setup = ModuleSetup::model("BC260Y-CN");
    setup.firmware = Some("BC260YCNAAR01A03".into());
    let mut bench = Bench::new(setup.clone()).unwrap();
    bench.power_on();
    bench.advance(nbmodem_module::BOOT_TIME);
    bench.take_raw();
    bench.at("ATE0");
    bench.at("AT+QSREGENABLE=1");
    // The firmware is updated to A04: a new process on the same NVRAM with the new revision.
    let updated = ModuleSetup {
        firmware: Some("BC260YCNAAR01A04".into()),
        ..setup
    };
    bench.replace_setup(updated);
    bench.restart_process().unwrap();
    bench.advance(nbmodem_module::BOOT_TIME);
    bench.take_raw();
    bench.at("ATE0");
    transcript(
        &mut bench,
        &[
            ("AT+QSREGENABLE?", &["+QSREGENABLE: 3"]),
            ("AT+QSREGENABLE=1", &[]),
        ],
    );
    transcript(&mut bench, &[("AT+QSREGENABLE?", &["+QSREGENABLE: 1"])]);
}

#[test]
fn seed_004_dmpconfig() {
    for model in ["BC35-G", "BC28"] {
        let mut bench = booted(model, None);
        transcript(
            &mut bench,
            &[
                ("AT+DMPCONFIG=1,117.161.2.7,5683,420", &[]),
                ("AT+DMPCONFIG=2,\"M100000089\",\"95Go0000000000000000000000000000\",1,863703030822519", &[]),
            ],
        );
        reboot(&mut bench);
        transcript(
            &mut bench,
            &[
                ("AT+DMPCONFIG?", &["+DMPCONFIG: 0,1", "+DMPCONFIG: 1,117.161.2.7,5683,420", "+DMPCONFIG: 2,M100000089,95Go****,1,863703030822519"]),
                ("AT+DMPCONFIG=0,0", &[]),
                ("AT+DMPCONFIG=4,0", &["0,0"]),
                ("AT+DMPCONFIG=1,117.161.2.7,5683,420", &[]),
                ("AT+DMPCONFIG=4,1", &["1,117.161.2.7,5683,420"]),
                ("AT+DMPCONFIG=1, , ,300", &[]),
                ("AT+DMPCONFIG=4,1", &["1, , ,300"]),
                ("AT+DMPCONFIG=2,\"M100000089\",\"77GaaTUi33nUK05ha528888QFbk0Y38M\",1,863703030822519", &[]),
                ("AT+DMPCONFIG=4,2", &["2,M100000089,77Ga****,1,863703030822519"]),
                ("AT+DMPCONFIG=3,46004", &[]),
                ("AT+DMPCONFIG=4,3", &["3,46004"]),
                ("AT+DMPCONFIG=3,46005,46008,46009", &[]),
                ("AT+DMPCONFIG=4,3", &["3,46005,46008,46009"]),
                ("AT+DMPCONFIG=5,3", &[]),
                ("AT+DMPCONFIG=5,4", &[]),
            ],
        );
    }
}

#[test]
fn bc95_differences() {
    let mut bench = booted("BC95", None);
    transcript(
        &mut bench,
        &[("AT+DMPCONFIG=4,1", &["1,117.161.2.41,5683,900"])],
    );
    assert_eq!(
        bench.at("AT+DMPCONFIG=1, , ,300"),
        "\r\nERROR\r\n",
        "BC95 needs server and port"
    );
    bench.at("AT+CMEE=1");
    assert_eq!(bench.at("AT+DMPCONFIG=1, , ,300"), "\r\n+CME ERROR: 50\r\n");
}

#[test]
fn ranges_and_errors() {
    let mut bc25 = booted("BC25", None);
    for bad in [
        "AT+QDMPCFG=1,117.161.2.7,999,420",
        "AT+QDMPCFG=1,117.161.2.7,5683,299",
        "AT+QDMPCFG=1,117.161.2.7,5683,4294967",
        "AT+QDMPCFG=2,M100000089,\"pw\",1,863703030822519",
        "AT+QDMPCFG=2,\"M100000089\",\"pw\",3,863703030822519",
        "AT+QDMPCFG=2,\"M100000089\",\"pw\",1,86370303082251",
        "AT+QDMPCFG=3",
        "AT+QDMPCFG=5,3",
        "AT+QDMPCFG=7",
        "AT+QDMPCFGEX=1,0,\"00-01-6C-06-A6-29-00-00\"",
        "AT+QDMPCFGEX=2,0,\"a\",\"b\",\"c\"",
        "AT+QDMPCFGEX=6,1",
        "AT+QDMPCFGEX=0,0,unquoted",
    ] {
        assert_eq!(bc25.at(bad), "\r\n+CME ERROR: 53\r\n", "{bad}");
    }
    assert_eq!(bc25.at("AT+QDMPCFG=1,117.161.2.7,1000,300"), "\r\nOK\r\n");
    let mut bc260y = booted("BC260Y-CN", None);
    assert_eq!(
        bc260y.at("AT+QDMPCFG=1,m.fxltsbl.com,1,300"),
        "\r\nOK\r\n",
        "ports from 1 on BC260Y-CN"
    );
    assert_eq!(
        bc260y.at("AT+QDMPCFG=1,117.161.2.7,0,300"),
        "\r\nERROR\r\n",
        "plain ERROR on BC260Y-CN"
    );
    transcript(
        &mut bc260y,
        &[("AT+QDMPCFG=4,1", &["+QDMPCFG: 1,m.fxltsbl.com,1,300"])],
    );
}

#[test]
fn a_factory_module_reads_its_factory_credentials() {
    // Seeds 001, 003 and 004 show the type-2 line unconditionally: a factory module carries an
    // app key (the project's own) and registers with it, on its own IMEI as an interface (0).
    let imei = "865975030000001";
    for (model, command, server, key) in [
        (
            "BC260Y-CN",
            "+QDMPCFG",
            "m.fxltsbl.com,5683,86400",
            "NBMODEMBC260Y,nbmF****",
        ),
        (
            "BC25",
            "+QDMPCFG",
            "117.161.2.41,5683,86400",
            "NBMODEMBC25,nbmF****",
        ),
        (
            "BC20",
            "+QDMPCFG",
            "117.161.2.41,5683,86400",
            "NBMODEMBC26,nbmF****",
        ),
        (
            "BC95",
            "+DMPCONFIG",
            "117.161.2.41,5683,900",
            "NBMODEMNEUL,nbmF****",
        ),
    ] {
        let mut fresh = booted(model, None);
        let read = [
            format!("{command}: 0,1"),
            format!("{command}: 1,{server}"),
            format!("{command}: 2,{key},0,{imei}"),
        ];
        let read: Vec<&str> = read.iter().map(String::as_str).collect();
        transcript(&mut fresh, &[(&format!("AT{command}?"), &read)]);
        // Erasing a configured key restores the factory one.
        let saved = format!("2,{key},0,{imei}");
        let answer = if command == "+DMPCONFIG" {
            saved.clone()
        } else {
            format!("{command}: {saved}")
        };
        transcript(
            &mut fresh,
            &[
                (
                    &format!("AT{command}=2,\"M100000089\",\"77GaaTUi33nUK05ha528888QFbk0Y38M\",1,863703030822519"),
                    &[],
                ),
                (&format!("AT{command}=5,2"), &[]),
                (&format!("AT{command}=4,2"), &[&answer]),
            ],
        );
    }
}

#[test]
fn the_test_forms_read_as_each_seed_prints_them() {
    for (model, answer) in [
        // Seed 001 §3.2.2 brackets the first two parameters together.
        (
            "BC260Y-CN",
            "+QDMPCFG: <type>[,<parameter1>,<parameter2>[,<parameter3>[,<parameter4>]]]",
        ),
        (
            "BC25",
            "+QDMPCFG: <type>[,<parameter1>[,<parameter2>[,<parameter3>[,<parameter4>]]]]",
        ),
        (
            "BC26",
            "+QDMPCFG: <type>[,<parameter1>[,<parameter2>[,<parameter3>[,<parameter4>]]]]",
        ),
    ] {
        transcript(&mut booted(model, None), &[("AT+QDMPCFG=?", &[answer])]);
    }
}

#[test]
fn omitted_parameters_follow_each_seeds_rule() {
    // BC260Y-CN (seed 001 §3.1.1): the value set before, or the default.
    let mut bc260y = booted("BC260Y-CN", None);
    transcript(
        &mut bc260y,
        &[
            ("AT+QDMPCFG=1,117.161.2.7,5683", &[]),
            ("AT+QDMPCFG=4,1", &["+QDMPCFG: 1,117.161.2.7,5683,86400"]),
            ("AT+QDMPCFG=1,117.161.2.7,5684,420", &[]),
            ("AT+QDMPCFG=1,117.161.2.41", &[]),
            ("AT+QDMPCFG=4,1", &["+QDMPCFG: 1,117.161.2.41,5684,420"]),
            ("AT+QDMPCFG=2,\"M100000089\",\"77GaaTUi33nUK05ha528888QFbk0Y38M\",1,863703030822519", &[]),
            ("AT+QDMPCFG=2,\"M100000090\"", &[]),
            ("AT+QDMPCFG=4,2", &["+QDMPCFG: 2,M100000090,77Ga****,1,863703030822519"]),
            ("AT+QDMPCFGEX=2,0,\"4096KB\",\"4096KB\",\"EC616\",\"FREE RTOS\"", &[]),
            ("AT+QDMPCFGEX=2,0,\"8192KB\"", &[]),
            ("AT+QDMPCFGEX=2,1", &["+QDMPCFGEX: 2,8192KB,4096KB,EC616,FREE RTOS"]),
        ],
    );
    // BC26 (seed 003 §2.1 note 2): the default.
    let mut bc26 = booted("BC26", None);
    transcript(
        &mut bc26,
        &[
            ("AT+QDMPCFG=1,117.161.2.7,5684,420", &[]),
            ("AT+QDMPCFG=1,117.161.2.7", &[]),
            ("AT+QDMPCFG=4,1", &["+QDMPCFG: 1,117.161.2.7,5683,86400"]),
            (
                "AT+QDMPCFGEX=2,0,\"4096KB\",\"4096KB\",\"MT2625\",\"FREE RTOS\"",
                &[],
            ),
            ("AT+QDMPCFGEX=2,0,\"8192KB\"", &[]),
            ("AT+QDMPCFGEX=2,1", &["+QDMPCFGEX: 2,8192KB,NULL,NULL,NULL"]),
        ],
    );
    // BC25 (seed 000 states no such rule) and the DMPCONFIG models (seed 004) refuse it; the
    // type, and the first value, are always needed.
    let mut bc25 = booted("BC25", None);
    assert_eq!(
        bc25.at("AT+QDMPCFG=1,117.161.2.7,5683"),
        "\r\n+CME ERROR: 53\r\n"
    );
    assert_eq!(
        bc25.at("AT+QDMPCFGEX=2,0,\"8192KB\""),
        "\r\n+CME ERROR: 53\r\n"
    );
    let mut bc28 = booted("BC28", None);
    bc28.at("AT+CMEE=1");
    assert_eq!(
        bc28.at("AT+DMPCONFIG=1,117.161.2.7,5683"),
        "\r\n+CME ERROR: 50\r\n"
    );
    for bare in [
        "AT+QDMPCFG=1",
        "AT+QDMPCFG=2",
        "AT+QDMPCFG=0",
        "AT+QDMPCFGEX=2,0",
    ] {
        assert_eq!(bc260y.at(bare), "\r\nERROR\r\n", "{bare}");
    }
}

#[test]
fn half_a_bracket_group_is_refused_and_changes_nothing() {
    // Seeds 001 §3.2.3 and 003 §2.3: `[,<parameter3>,<parameter4>]` brackets the last two values
    // together, so a line with three of four values is refused, on every model that otherwise
    // lets trailing values be left out.
    for model in ["BC260Y-CN", "BC26", "BC20"] {
        let mut bench = booted(model, None);
        transcript(
            &mut bench,
            &[
                (
                    "AT+QDMPCFGEX=2,0,\"4096KB\",\"4096KB\",\"EC616\",\"FREE RTOS\"",
                    &[],
                ),
                (
                    "AT+QDMPCFGEX=4,0,\"off\",\"NB-IoT\",\"XY05553867549\",\"18009699999\"",
                    &[],
                ),
            ],
        );
        for half in [
            "AT+QDMPCFGEX=2,0,\"8192KB\",\"4096KB\",\"RDA8909B\"",
            "AT+QDMPCFGEX=4,0,\"on\",\"LTE\",\"XY0\"",
        ] {
            assert_eq!(bench.at(half), "\r\nERROR\r\n", "{model}: {half}");
        }
        transcript(
            &mut bench,
            &[
                (
                    "AT+QDMPCFGEX=2,1",
                    &["+QDMPCFGEX: 2,4096KB,4096KB,EC616,FREE RTOS"],
                ),
                (
                    "AT+QDMPCFGEX=4,1",
                    &["+QDMPCFGEX: 4,off,NB-IoT,XY05553867549,18009699999"],
                ),
                // Two values, and four, are whole groups.
                ("AT+QDMPCFGEX=4,0,\"on\",\"LTE\"", &[]),
            ],
        );
    }
}

#[test]
fn dmpconfig_leaves_out_the_server_or_the_port_on_bc35g_and_bc28() {
    // Seed 004 §2.1 brackets <serverIp> and <serverPort> each on its own; an empty one reads
    // back as a space, and DM uses the default server or port 5683.
    for model in ["BC35-G", "BC28"] {
        transcript(
            &mut booted(model, None),
            &[
                ("AT+DMPCONFIG=1,,5683,300", &[]),
                ("AT+DMPCONFIG=4,1", &["1, ,5683,300"]),
                ("AT+DMPCONFIG=1,117.161.2.7,,300", &[]),
                ("AT+DMPCONFIG=4,1", &["1,117.161.2.7, ,300"]),
                ("AT+DMPCONFIG=1, , ,300", &[]),
                ("AT+DMPCONFIG=4,1", &["1, , ,300"]),
            ],
        );
    }
    // BC95 (the seed's note): the server and port cannot be left out.
    let mut bc95 = booted("BC95", None);
    for command in [
        "AT+DMPCONFIG=1,,5683,300",
        "AT+DMPCONFIG=1,117.161.2.7,,300",
        "AT+DMPCONFIG=1, , ,300",
    ] {
        assert_eq!(bc95.at(command), "\r\nERROR\r\n", "{command}");
    }
}

#[test]
fn dmpconfig_exists_only_on_ont_firmware() {
    // Seed 004 §1: only firmware whose revision ends in _ONT talks to CMDMP; the others have no
    // AT+DMPCONFIG (a plain ERROR, as for an unknown command, whatever AT+CMEE says).
    let mut standard = booted("BC95", Some("BC95HBR02A01"));
    standard.at("AT+CMEE=1");
    for command in ["AT+DMPCONFIG?", "AT+DMPCONFIG=?", "AT+DMPCONFIG=6"] {
        assert_eq!(standard.at(command), "\r\nERROR\r\n", "{command}");
    }
    let mut onenet = booted("BC95", Some("BC95HBR02A01_ONT"));
    transcript(&mut onenet, &[("AT+DMPCONFIG=6", &["6,0"])]);
}
