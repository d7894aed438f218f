//! A Block1 upload copies each block, not the whole body once per block: the bytes allocated for
//! a 256 KiB upload in 1 KiB blocks stay a small multiple of the body (copying the body per block
//! would allocate 256 times it). Counted with a global allocator, so this test has its own binary.

use nbmodem_clock::Instant;
use nbmodem_coap::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static ALLOCATED: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` above, with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

#[test]
fn a_block1_upload_allocates_about_its_body_not_its_body_per_block() {
    let peer: SocketAddr = "10.0.0.2:5683".parse().unwrap();
    let mut client = Endpoint::new(EndpointConfig::default());
    let body = vec![7u8; 256 * 1024];
    let now = Instant::from_unix_millis(1_767_225_600_000);
    let before = ALLOCATED.load(Ordering::Relaxed);
    let id = client.request(
        now,
        peer,
        Request::new(Method::Put, "/up").with_payload(42, body),
        true,
    );
    // Play the server: answer each block with 2.31 Continue (its Block1 echoed), the last with
    // 2.04, straight from the bytes.
    let mut blocks = 0;
    while let Some(t) = client.poll_transmit() {
        blocks += 1;
        let packet = coap_lite::Packet::from_bytes(&t.payload).unwrap();
        let block1 = packet
            .get_option(coap_lite::CoapOption::Block1)
            .unwrap()
            .front()
            .unwrap()
            .clone();
        let more = block1.last().unwrap() & 0x08 != 0;
        let mut reply = coap_lite::Packet::new();
        reply
            .header
            .set_type(coap_lite::MessageType::Acknowledgement);
        reply.header.message_id = packet.header.message_id;
        reply.set_token(packet.get_token().to_vec());
        reply.header.code = coap_lite::MessageClass::Response(if more {
            Status::Continue
        } else {
            Status::Changed
        });
        reply.add_option(coap_lite::CoapOption::Block1, block1);
        client.handle_datagram(now, peer, &reply.to_bytes().unwrap());
    }
    let allocated = ALLOCATED.load(Ordering::Relaxed) - before;
    assert_eq!(blocks, 256);
    assert!(matches!(client.poll_event(), Some(Event::Response { id: got, .. }) if got == id));
    assert!(
        allocated < 16 * 256 * 1024,
        "{allocated} bytes allocated for a 256 KiB upload"
    );
}
