//! The trace and the capture of a real-time run (`--trace`, `--pcap`), written on a thread of
//! their own: the module's loop only hands over what its taps saw, and no disk write holds up
//! its timers or its AT port.

use anyhow::{anyhow, Result};
use nbmodem_capture::Recorder;
use nbmodem_module::tap::Tapped;
use std::sync::mpsc;
use std::thread::JoinHandle;

/// The writer thread and the way to it.
pub struct CaptureThread {
    events: mpsc::Sender<Vec<Tapped>>,
    thread: JoinHandle<std::io::Result<()>>,
}

impl CaptureThread {
    /// Starts writing with `recorder`.
    pub fn start(mut recorder: Recorder) -> CaptureThread {
        let (events, received) = mpsc::channel::<Vec<Tapped>>();
        let thread = std::thread::spawn(move || {
            while let Ok(batch) = received.recv() {
                recorder.record(&batch)?;
                // Flushed whenever nothing more is waiting, so that `tail -f` and a live
                // Wireshark see each event soon after it happened.
                while let Ok(more) = received.try_recv() {
                    recorder.record(&more)?;
                }
                recorder.flush()?;
            }
            recorder.flush()
        });
        CaptureThread { events, thread }
    }

    /// Hands over events to write. After a write failed they are dropped (the failure is
    /// reported by [`CaptureThread::finish`]); the module runs on.
    pub fn send(&self, events: Vec<Tapped>) {
        if !events.is_empty() && self.events.send(events).is_err() {
            tracing::debug!("the trace writer has stopped: events dropped");
        }
    }

    /// Writes out what was handed over and stops the thread; tells whether every write succeeded.
    pub fn finish(self) -> Result<()> {
        drop(self.events);
        match self.thread.join() {
            Ok(written) => written.map_err(|e| anyhow!("writing the trace or capture: {e}")),
            Err(_) => Err(anyhow!("the trace and capture writer panicked")),
        }
    }
}
