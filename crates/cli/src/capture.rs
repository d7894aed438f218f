//! The trace and the capture of a real-time run (`--trace`, `--pcap`), written on a thread of
//! their own: the module's loop only hands over what its taps saw, and no disk write holds up
//! its timers or its AT port.

use anyhow::{anyhow, Result};
use nbmodem_capture::Recorder;
use nbmodem_clock::{Clock, RealClock};
use nbmodem_module::tap::Tapped;
use std::sync::mpsc;
use std::thread::JoinHandle;

/// The writer thread and the way to it: batches of events, then `None` to finish (the stand-ins'
/// console may still hold a way in, so the end is said, not inferred from the channel closing).
pub struct CaptureThread {
    events: mpsc::Sender<Option<Vec<Tapped>>>,
    thread: JoinHandle<std::io::Result<()>>,
}

impl CaptureThread {
    /// Starts writing with `recorder`.
    pub fn start(mut recorder: Recorder) -> CaptureThread {
        let (events, received) = mpsc::channel::<Option<Vec<Tapped>>>();
        let thread = std::thread::spawn(move || {
            let mut next = received.recv();
            while let Ok(Some(batch)) = next {
                recorder.record(&batch)?;
                // Flushed whenever nothing more is waiting, so that `tail -f` and a live
                // Wireshark see each event soon after it happened.
                next = match received.try_recv() {
                    Err(mpsc::TryRecvError::Empty) => {
                        recorder.flush()?;
                        received.recv()
                    }
                    waiting => waiting.map_err(|_| mpsc::RecvError),
                };
            }
            recorder.flush()
        });
        CaptureThread { events, thread }
    }

    /// Where the stand-in platforms' console lines go into the trace, stamped with the time
    /// they came.
    pub fn platform_lines(&self) -> impl Fn(&str) + Send + Sync + 'static {
        let events = self.events.clone();
        move |text| {
            let line = Tapped::Platform {
                at: RealClock.now(),
                text: text.to_string(),
            };
            // After the end, or a failed write, the line is dropped as other events are.
            let _ = events.send(Some(vec![line]));
        }
    }

    /// Hands over events to write. After a write failed they are dropped (the failure is
    /// reported by [`CaptureThread::finish`]); the module runs on.
    pub fn send(&self, events: Vec<Tapped>) {
        if !events.is_empty() && self.events.send(Some(events)).is_err() {
            tracing::debug!("the trace writer has stopped: events dropped");
        }
    }

    /// Writes out what was handed over and stops the thread; tells whether every write succeeded.
    pub fn finish(self) -> Result<()> {
        let _ = self.events.send(None);
        match self.thread.join() {
            Ok(written) => written.map_err(|e| anyhow!("writing the trace or capture: {e}")),
            Err(_) => Err(anyhow!("the trace and capture writer panicked")),
        }
    }
}
