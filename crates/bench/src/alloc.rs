//! A global allocator that counts, per thread, the heap bytes allocated and not yet freed on that
//! thread, so that a memory figure can be pinned on the thread that owns the state (the server
//! thread, or the single thread of a simulation) rather than on the whole process.
//!
//! Sizes are counted as glibc malloc chunks on 64-bit Linux (the request plus an 8-byte header,
//! rounded up to 16, at least 32 bytes), which is close to what a live allocation costs in RSS.
//! Memory freed on another thread than the one that allocated it would skew both threads' counts;
//! the benchmarks keep each measured state on one thread, or add up the threads that share it
//! ([`other_threads_live_bytes`]: a server and its record writer, say).
//!
//! Each thread counts in a slot of its own (threads beyond the first [`SLOTS`] share the last
//! one), on a cache line of its own, so that counting stays cheap and any thread can read them.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};

pub struct Counting;

/// Threads with a slot of their own.
const SLOTS: usize = 64;

#[repr(align(64))]
struct Slot(AtomicIsize);

static LIVE: [Slot; SLOTS] = [const { Slot(AtomicIsize::new(0)) }; SLOTS];
static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's slot, taken at its first allocation.
    static SLOT: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// The calling thread's slot, if it still has thread-locals.
fn slot() -> Option<&'static AtomicIsize> {
    let index = SLOT
        .try_with(|slot| {
            if slot.get() == usize::MAX {
                slot.set(NEXT_SLOT.fetch_add(1, Ordering::Relaxed).min(SLOTS - 1));
            }
            slot.get()
        })
        .ok()?;
    Some(&LIVE[index].0)
}

/// What an allocation of `size` bytes occupies in a glibc heap.
fn chunk(size: usize) -> isize {
    ((size + 8 + 15) & !15).max(32) as isize
}

fn count(delta: isize) {
    // During thread teardown the slot may be gone; that thread is no longer measured.
    if let Some(live) = slot() {
        live.fetch_add(delta, Ordering::Relaxed);
    }
}

/// Heap bytes the calling thread has allocated and not freed.
pub fn thread_live_bytes() -> isize {
    slot().map_or(0, |live| live.load(Ordering::Relaxed))
}

/// Heap bytes allocated and not freed by every thread but the calling one (which must have a slot
/// of its own): what a server thread and the threads it hands its allocations to hold, seen from
/// the load generator's thread.
pub fn other_threads_live_bytes() -> isize {
    let all: isize = LIVE.iter().map(|s| s.0.load(Ordering::Relaxed)).sum();
    all - thread_live_bytes()
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = System.alloc(layout);
        if !ptr.is_null() {
            count(chunk(layout.size()));
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let ptr = System.alloc_zeroed(layout);
        if !ptr.is_null() {
            count(chunk(layout.size()));
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        count(-chunk(layout.size()));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = System.realloc(ptr, layout, new_size);
        if !new.is_null() {
            count(chunk(new_size) - chunk(layout.size()));
        }
        new
    }
}
