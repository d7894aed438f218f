//! A global allocator that counts, per thread, the heap bytes allocated and not yet freed on that
//! thread, so that a memory figure can be pinned on the thread that owns the state (the server
//! thread, or the single thread of a simulation) rather than on the whole process.
//!
//! Sizes are counted as glibc malloc chunks on 64-bit Linux (the request plus an 8-byte header,
//! rounded up to 16, at least 32 bytes), which is close to what a live allocation costs in RSS.
//! Memory freed on another thread than the one that allocated it would skew both threads' counts;
//! the benchmarks keep each measured state on one thread.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

pub struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
}

/// What an allocation of `size` bytes occupies in a glibc heap.
fn chunk(size: usize) -> isize {
    ((size + 8 + 15) & !15).max(32) as isize
}

fn count(delta: isize) {
    // During thread teardown the slot may be gone; that thread is no longer measured.
    let _ = LIVE.try_with(|live| live.set(live.get() + delta));
}

/// Heap bytes the calling thread has allocated and not freed.
pub fn thread_live_bytes() -> isize {
    LIVE.with(Cell::get)
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
