//! `nbmodem-bench ct-iot`: the China Telecom IoT platform stand-in (plain CoAP) on its own thread
//! and UDP socket, a fresh database with N devices on the platform (no `AAAA0000` reply), and N
//! raw-CoAP devices, each on a socket of its own. Phase 1: every device registers and answers the
//! platform's Observe of /19/0/0. Then the platform's clock jumps past EXCHANGE_LIFETIME so that
//! only its steady state is left. Phase 2: for a while, every device sends confirmable
//! notifications (uplinks); each counts once the platform acknowledges it, which it does only when
//! the uplink is durable. Reports uplinks per second and memory per device, and afterwards checks
//! that the database holds every acknowledged uplink.

use crate::load::{Generator, Rounds, Script};
use crate::lwm2m_server::{expect, imei, register};
use crate::measure::{jump_clock, phase, Memory, Skewed};
use crate::served::{serve, Served};
use crate::sys;
use crate::wire::{self, Reply, RequestWriter, ACK, CON, CONTENT, CONTENT_FORMAT, CREATED};
use crate::wire::{EMPTY, GET, OBSERVE, URI_PATH};
use anyhow::{bail, Context, Result};
use nbmodem_platform::ctiot::{Device, Flavour};
use nbmodem_platform::Write;
use nbmodem_platform::{CtIotServer, Store, Writing};
use std::path::Path;
use std::time::Duration;

/// What a module on the CT IoT platform registers (protocols.md §4).
const LINKS: &[u8] = b"</>;rt=\"oma.lwm2m\",</3/0>,</19/0>,</19/1>";
/// Content-Format application/octet-stream.
const OPAQUE: u8 = 42;
/// The Observe number of the answer to the platform's Observe; notifications count on from it.
const FIRST_SEQUENCE: u32 = 1;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Simulated devices, each on a socket of its own (the open-file limit here is 20 000).
    #[arg(long, default_value_t = 10_000)]
    devices: usize,
    /// How long phase 2 sends uplinks.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Messages outstanding at most, over all devices.
    #[arg(long, default_value_t = 128)]
    window: usize,
}

/// A device: its Register, then the answer to the platform's Observe, then notifications on the
/// observation's token.
struct Module {
    number: u64,
    register: Vec<u8>,
    notification: Vec<u8>,
    /// The token of the platform's Observe.
    token: Vec<u8>,
    /// The Observe number of the notification to send next.
    sequence: u32,
    registered: bool,
    observed: bool,
}

impl Module {
    fn new(i: usize) -> Self {
        Module {
            number: i as u64,
            register: register(i, LINKS),
            // Room for the longest notification, so that sending allocates nothing on this side.
            notification: Vec::with_capacity(48),
            token: Vec::with_capacity(8),
            sequence: FIRST_SEQUENCE,
            registered: false,
            observed: false,
        }
    }

    /// The uplink data: which device, which notification (12 bytes).
    fn payload(&self, sequence: u32) -> [u8; 12] {
        let mut data = [0; 12];
        data[..8].copy_from_slice(&self.number.to_be_bytes());
        data[8..].copy_from_slice(&sequence.to_be_bytes());
        data
    }

    /// Writes a 2.05 of /19/0/0 with Observe number `sequence` into `out`.
    fn content(&self, out: &mut Vec<u8>, kind: u8, mid: u16, sequence: u32) {
        let mut observe = [0; 4];
        RequestWriter::with_header(out, kind, CONTENT, mid, &self.token)
            .option(OBSERVE, wire::uint(sequence, &mut observe))
            .option(CONTENT_FORMAT, &[OPAQUE])
            .payload(&self.payload(sequence));
    }

    /// The next notification, confirmable; its message ID is stamped in when it is sent.
    fn next_notification(&mut self) {
        self.sequence += 1;
        let mut notification = std::mem::take(&mut self.notification);
        self.content(&mut notification, CON, 0, self.sequence);
        self.notification = notification;
    }
}

/// Whether `request` is the platform's GET with Observe=0 of /19/0/0.
fn is_observe(request: &Reply<'_>) -> bool {
    let mut path = request
        .options()
        .filter(|(n, _)| *n == URI_PATH)
        .map(|(_, v)| v);
    let on_uplink = [&b"19"[..], b"0", b"0"]
        .into_iter()
        .all(|segment| path.next() == Some(segment))
        && path.next().is_none();
    let registers = request
        .options()
        .any(|(n, v)| n == OBSERVE && v.iter().all(|b| *b == 0));
    request.kind == CON && request.code == GET && on_uplink && registers
}

impl Script for Module {
    fn message(&mut self) -> &mut Vec<u8> {
        if self.registered {
            &mut self.notification
        } else {
            &mut self.register
        }
    }

    fn check(&mut self, reply: &Reply<'_>) -> Result<(), String> {
        if self.registered {
            expect(reply, EMPTY)?;
            self.next_notification();
            return Ok(());
        }
        expect(reply, CREATED)?;
        self.registered = true;
        Ok(())
    }

    fn stamps_token(&self) -> bool {
        !self.registered
    }

    /// The platform observes /19/0/0 (after the Register, or before its 2.01 arrives): a 2.05 with
    /// Observe, piggybacked; the notifications follow on its token. The same Observe again (the
    /// platform did not get the answer) gets the same answer, and the notifications go on.
    fn answer(&mut self, request: &Reply<'_>, out: &mut Vec<u8>) -> Result<(), String> {
        if !is_observe(request) {
            return Err(format!("the platform sent {request:?}, not an Observe"));
        }
        let again = self.observed && self.token == request.token;
        if !again {
            self.token.clear();
            self.token.extend_from_slice(request.token);
            self.sequence = FIRST_SEQUENCE;
            self.next_notification();
            self.observed = true;
        }
        self.content(out, ACK, request.mid, FIRST_SEQUENCE);
        Ok(())
    }

    fn waits_for_server(&self) -> bool {
        !self.observed
    }
}

/// The platform node, its clock able to jump.
type Platform = Served<Skewed<CtIotServer>>;

/// Puts `devices` devices on the IoT platform in a fresh database in `dir` (as `nbmodem platform`
/// would load them at start-up) and opens its plain-CoAP node, writing as `writing` says.
fn open_platform(dir: &Path, devices: usize, writing: Writing) -> Result<CtIotServer> {
    let mut store = Store::open(dir)?;
    let writes: Vec<Write> = (0..devices)
        .map(|i| {
            Write::CtIotDevice(Device {
                flavour: Flavour::Iot,
                imei: imei(i),
                psk: None,
                product: None,
                reply: false,
            })
        })
        .collect();
    store.write_all(&writes, u64::MAX)?;
    let state = store.ctiot_state()?.shared();
    drop(store);
    Ok(nbmodem_platform::ctiot_server(
        Flavour::Iot,
        false,
        state,
        dir,
        1,
        writing,
    )?)
}

pub fn run(args: Args) -> Result<()> {
    let n = args.devices;
    let dir = tempfile::tempdir()?;
    let data = dir.path().to_path_buf();
    let before_start = Memory::now()?;
    let server = serve(move || {
        Skewed::new(
            open_platform(&data, n, Writing::Thread).expect("opening the platform's database"),
        )
    })?;
    let wake = server.wake_handle();
    server.node().inner.journal_mut().set_wake(wake);
    println!(
        "platform started, {n} devices on it: {}",
        Memory::now()?.describe(&before_start, n, "device")
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let outcome = runtime.block_on(measure(&args, &server));
    server.stop()?;
    let acknowledged = outcome?;
    check_stored(dir.path(), n, acknowledged)
}

/// Runs both phases; returns the uplinks acknowledged.
async fn measure(args: &Args, server: &Platform) -> Result<u64> {
    let n = args.devices;
    println!(
        "ct-iot: {n} devices, a socket each, window {}, load average {:.2}",
        args.window,
        sys::load_average()?
    );
    let devices: Vec<Module> = (0..n).map(Module::new).collect();
    let mut generator = Generator::start(server.address, devices, n, args.window).await?;
    let me = sys::thread_id()?;
    let base = Memory::now()?;
    let registered = phase(&mut generator, server, me, Rounds::Once, "register").await?;
    if registered.exchanges != n as u64 || registered.answered != n as u64 {
        bail!(
            "{} Register exchanges and {} Observes answered for {n} devices",
            registered.exchanges,
            registered.answered
        );
    }
    let observed = Memory::now()?;
    jump_clock(server).await?;
    let settled = Memory::now()?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(args.seconds);
    let uplinks = phase(
        &mut generator,
        server,
        me,
        Rounds::Until(deadline),
        "uplink",
    )
    .await?;
    if uplinks.answered != 0 {
        println!(
            "the platform sent {} messages of its own during the uplinks",
            uplinks.answered
        );
    }
    let after_uplinks = Memory::now()?;
    jump_clock(server).await?;
    let swept = Memory::now()?;
    generator.stop();
    println!("memory per device:");
    for (when, memory) in [
        ("after Register and Observe:", observed),
        ("after the clock jump:", settled),
        ("after the uplinks:", after_uplinks),
        ("after another clock jump:", swept),
    ] {
        println!("  {when:<28}{}", memory.describe(&base, n, "device"));
    }
    let count = server.node().inner.registrations();
    println!("registrations at the end: {count} (expected {n})");
    if count != n {
        bail!("{count} registrations, expected {n}");
    }
    Ok(uplinks.exchanges)
}

/// Every acknowledged uplink must be in the database: device by device, the Observe numbers
/// stored are those it sent, each once, and they add up to the uplinks acknowledged.
fn check_stored(dir: &Path, devices: usize, acknowledged: u64) -> Result<()> {
    let store = Store::open(dir)?;
    let mut stored = 0u64;
    for i in 0..devices {
        let uplinks = store
            .uplinks(Flavour::Iot, &imei(i), None, usize::MAX)
            .context("reading the uplinks back")?;
        // Newest first: the sequence numbers count down to the first notification's.
        let first = FIRST_SEQUENCE + 1;
        let expected = (first..first + uplinks.len() as u32).rev();
        if !uplinks.iter().map(|u| u.sequence).eq(expected) {
            let newest: Vec<u32> = uplinks.iter().take(20).map(|u| u.sequence).collect();
            bail!(
                "device {i}: {} uplinks stored, not Observe numbers {first} and on, once each \
                 (newest first: {newest:?})",
                uplinks.len()
            );
        }
        stored += uplinks.len() as u64;
    }
    println!("uplinks stored: {stored} (acknowledged: {acknowledged})");
    if stored != acknowledged {
        bail!("{stored} uplinks stored, {acknowledged} acknowledged");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::stamp;
    use nbmodem_clock::Instant;
    use nbmodem_net::DatagramNode;

    /// Sends the device's next message, as the generator would, and returns what the platform sent.
    fn send(platform: &mut CtIotServer, device: &mut Module, mid: u16) -> Vec<Vec<u8>> {
        let from = "127.0.0.1:40000".parse().unwrap();
        let token = device.stamps_token().then_some(u32::from(mid));
        stamp(device.message(), mid, token);
        platform.handle_datagram(Instant::from_unix_millis(1_000_000), from, device.message());
        std::iter::from_fn(|| platform.poll_transmit())
            .map(|t| t.payload)
            .collect()
    }

    #[test]
    fn a_device_registers_answers_the_observe_and_its_uplinks_are_stored() {
        let dir = tempfile::tempdir().unwrap();
        let mut platform = open_platform(dir.path(), 1, Writing::Inline).unwrap();
        let mut device = Module::new(0);
        let from = "127.0.0.1:40000".parse().unwrap();
        let now = Instant::from_unix_millis(1_000_000);
        // The 2.01 and the Observe, in whichever order the platform sends them.
        for datagram in send(&mut platform, &mut device, 1) {
            let message = Reply::parse(&datagram).unwrap();
            if message.kind == ACK {
                device.check(&message).unwrap();
            } else {
                let mut answer = Vec::new();
                device.answer(&message, &mut answer).unwrap();
                platform.handle_datagram(now, from, &answer);
            }
        }
        assert!(device.registered && !device.waits_for_server());
        for mid in 2..5 {
            let sent = send(&mut platform, &mut device, mid);
            let ack = Reply::parse(&sent[0]).unwrap();
            assert_eq!((ack.kind, ack.mid), (ACK, mid));
            device.check(&ack).unwrap();
        }
        drop(platform);
        check_stored(dir.path(), 1, 3).unwrap();
        assert!(check_stored(dir.path(), 1, 4).is_err());
    }

    #[test]
    fn only_the_observe_of_the_uplink_resource_is_answered() {
        let mut read = Vec::new();
        RequestWriter::with_header(&mut read, CON, GET, 9, &[1, 2])
            .option(URI_PATH, b"19")
            .option(URI_PATH, b"0")
            .option(URI_PATH, b"0");
        let reply = Reply::parse(&read).unwrap();
        assert!(Module::new(1).answer(&reply, &mut Vec::new()).is_err());
    }
}
