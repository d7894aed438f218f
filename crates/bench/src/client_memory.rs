//! `nbmodem-bench lwm2m-client-memory`: N full `Lwm2mClient`s, each with a small object store, on
//! a `SimNetwork` with one `Lwm2mServer`, all registered. Reports the RSS growth per client, and,
//! from the heap counted on this (only) thread, what the clients, the server and the simulated
//! network each hold: the parts are dropped one after the other and the heap freed is measured.

use crate::alloc;
use crate::lwm2m_server::imei;
use crate::sys;
use anyhow::{bail, Context, Result};
use nbmodem_clock::Instant;
use nbmodem_coap::EndpointConfig;
use nbmodem_lwm2m::client::{ClientConfig, ClientEvent, Lwm2mClient};
use nbmodem_lwm2m::content::{ResourceType, Value};
use nbmodem_lwm2m::object::{DataObject, ObjectStore, Operations, ResourceDef, ResourceValue};
use nbmodem_lwm2m::server::Lwm2mServer;
use nbmodem_net::sim::SimNetwork;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Simulated clients.
    #[arg(long, default_value_t = 10_000)]
    clients: usize,
}

/// The device object (3), instance 0, as a module fills it in.
fn device(i: usize) -> DataObject {
    use Operations::{Execute, Read, ReadWrite};
    use ResourceType::{Integer, String, Time};
    let mut device = DataObject::new(
        3,
        vec![
            ResourceDef::new(0, String, Read),
            ResourceDef::new(1, String, Read),
            ResourceDef::new(2, String, Read),
            ResourceDef::new(3, String, Read),
            ResourceDef::new(4, String, Execute),
            ResourceDef::new(9, Integer, Read),
            ResourceDef::new(13, Time, ReadWrite),
        ],
    )
    .with_instance(0);
    let text = |s: &str| ResourceValue::Single(Value::String(s.into()));
    device.set(0, 0, text("Quectel"));
    device.set(0, 1, text("BC28"));
    device.set(0, 2, text(&imei(i)));
    device.set(0, 3, text("BC28JAR01A10"));
    device.set(0, 9, ResourceValue::Single(Value::Integer(100)));
    device.set(0, 13, ResourceValue::Single(Value::Time(1_700_000_000)));
    device
}

/// Binary app data container (19): instance 0 uplink, instance 1 downlink.
fn app_data() -> DataObject {
    let data = ResourceDef::multiple(0, ResourceType::Opaque, Operations::ReadWrite);
    let mut object = DataObject::new(19, vec![data])
        .with_instance(0)
        .with_instance(1);
    for instance in [0, 1] {
        object.set(
            instance,
            0,
            ResourceValue::Multiple(vec![(0, Value::Opaque(vec![0; 8]))]),
        );
    }
    object
}

fn client(i: usize, server: SocketAddr) -> Lwm2mClient {
    let mut store = ObjectStore::new();
    store.add(device(i));
    store.add(app_data());
    let coap = EndpointConfig {
        seed: i as u64,
        ..EndpointConfig::default()
    };
    Lwm2mClient::new(ClientConfig::new(&imei(i), server), store, coap)
}

/// Client `i`'s address: 127.1.0.0 onwards, port 5683 (nothing is sent on a real network).
fn address(i: usize) -> SocketAddr {
    let ip = Ipv4Addr::from(0x7F01_0000u32 + i as u32);
    SocketAddr::from((ip, 5683))
}

#[derive(Debug, Clone, Copy)]
struct Memory {
    rss: u64,
    heap: isize,
}

impl Memory {
    fn now() -> Result<Self> {
        Ok(Memory {
            rss: sys::rss_bytes()?,
            heap: alloc::thread_live_bytes(),
        })
    }
}

fn per_client(bytes: f64, n: usize) -> String {
    format!(
        "{:.1} MiB = {:.0} B/client",
        bytes / 1048576.0,
        bytes / n as f64
    )
}

pub fn run(args: Args) -> Result<()> {
    let n = args.clients;
    let server: SocketAddr = "127.0.0.1:5683".parse()?;
    let start = Instant::from_unix_millis(1_700_000_000_000);
    let addresses: Vec<SocketAddr> = (0..n).map(address).collect();
    let base = Memory::now()?;
    let mut net = SimNetwork::new(start, 1);
    net.attach(server, Lwm2mServer::new(EndpointConfig::default()));
    for (i, &at) in addresses.iter().enumerate() {
        net.attach(at, client(i, server));
    }
    let built = Memory::now()?;
    let clock = std::time::Instant::now();
    for &at in &addresses {
        let client = net.node::<Lwm2mClient>(at).context("client gone")?;
        client.register(start);
    }
    net.run_for(Duration::from_secs(1));
    let simulated = clock.elapsed();
    check_registered(&mut net, &addresses, server)?;
    let registered = Memory::now()?;
    println!("lwm2m-client-memory: {n} clients registered in {simulated:.2?} (wall clock)");
    println!(
        "RSS: {} after building, {} after registering",
        per_client((built.rss - base.rss) as f64, n),
        per_client(registered.rss as f64 - base.rss as f64, n)
    );
    println!(
        "heap: {} after building, {} after registering",
        per_client((built.heap - base.heap) as f64, n),
        per_client((registered.heap - base.heap) as f64, n)
    );
    breakdown(net, &addresses, server, n);
    Ok(())
}

/// Every client must report its registration, and the server must hold all of them.
fn check_registered(
    net: &mut SimNetwork,
    addresses: &[SocketAddr],
    server: SocketAddr,
) -> Result<()> {
    for &at in addresses {
        let client = net.node::<Lwm2mClient>(at).context("client gone")?;
        match client.poll_event() {
            Some(ClientEvent::Registered { .. }) if client.is_registered() => {}
            other => bail!("client at {at}: {other:?} instead of a registration"),
        }
    }
    let lwm2m = net.node::<Lwm2mServer>(server).context("server gone")?;
    let count = lwm2m.registration_count();
    // The application takes the server's events, as it would.
    while lwm2m.poll_event().is_some() {}
    if count != addresses.len() {
        bail!(
            "the server holds {count} registrations, not {}",
            addresses.len()
        );
    }
    Ok(())
}

/// Heap freed by dropping the clients, then the server, then the network itself.
fn breakdown(mut net: SimNetwork, addresses: &[SocketAddr], server: SocketAddr, n: usize) {
    let mut heap = alloc::thread_live_bytes();
    let mut freed = |what: &str| {
        let now = alloc::thread_live_bytes();
        println!("  {what}: {}", per_client((heap - now) as f64, n));
        heap = now;
    };
    println!("heap held after registering, by part:");
    for &at in addresses {
        net.detach(at);
    }
    freed("clients (Lwm2mClient, its Endpoint and ObjectStore)");
    net.detach(server);
    freed("server (registration store, duplicate-detection records)");
    drop(net);
    freed("SimNetwork (node table, datagram records)");
}
