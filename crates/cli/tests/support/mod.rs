//! What several test binaries of the CLI share.

/// The stand-ins of a test sandbox on free ports, never the fixed defaults: a sandbox a person
/// runs in another terminal must not break the tests.
pub const FREE_PORTS: [&str; 18] = [
    "--ct",
    "127.0.0.1:0",
    "--cu",
    "127.0.0.1:0",
    "--dm",
    "127.0.0.1:0",
    "--iot",
    "127.0.0.1:0",
    "--iot-dtls",
    "127.0.0.1:0",
    "--aep",
    "127.0.0.1:0",
    "--aep-dtls",
    "127.0.0.1:0",
    "--control",
    "127.0.0.1:0",
    "--api",
    "127.0.0.1:0",
];
