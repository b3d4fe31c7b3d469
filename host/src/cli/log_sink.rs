//! Where `squall`'s log lines go: standard error, written by a thread of
//! its own. A slow or blocked stderr (a pipe nobody reads) never holds up
//! the thread that logs — past [`QUEUE`] waiting lines, new ones are
//! dropped and counted — and a failing one (a full disk, `2>/dev/full`, a
//! closed pipe) costs only the lines: nothing here panics, blocks or
//! returns an error to the logger (tracing-subscriber's own fallback for a
//! writer's error is `eprintln!`, which panics when stderr fails).

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::{Duration, Instant};

use tracing_subscriber::fmt::MakeWriter;

/// Log lines waiting for the writer thread before new ones are dropped.
const QUEUE: usize = 4096;
/// How long [`Flush`] waits at exit for the lines before it.
const FLUSH_WAIT: Duration = Duration::from_secs(2);

enum Message {
    Line(Vec<u8>),
    /// Answered once every line sent before it has been written (or lost).
    Flush(SyncSender<()>),
}

/// The `MakeWriter` the tracing subscriber writes through.
#[derive(Debug, Clone)]
pub(crate) struct LogSink {
    queue: SyncSender<Message>,
    /// Lines dropped because the queue was full.
    dropped: Arc<AtomicU64>,
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Line(_) => "Line",
            Self::Flush(_) => "Flush",
        })
    }
}

impl LogSink {
    /// Starts the writer thread on `out`; without a thread (none can be
    /// started), lines are dropped. The [`Flush`] waits for the lines
    /// logged before it is dropped, when the program ends.
    pub(crate) fn start(out: impl Write + Send + 'static) -> (Self, Flush) {
        let (queue, lines) = sync_channel(QUEUE);
        let dropped = Arc::new(AtomicU64::new(0));
        let counted = dropped.clone();
        let _ = std::thread::Builder::new()
            .name("squall-log".into())
            .spawn(move || write_lines(lines, &counted, out));
        let sink = Self { queue, dropped };
        (sink.clone(), Flush(sink))
    }

    fn send(&self, line: &[u8]) {
        match self.queue.try_send(Message::Line(line.to_vec())) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

impl<'a> MakeWriter<'a> for LogSink {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter(self)
    }
}

/// One event's writer: the formatter writes the whole line at once.
#[derive(Debug)]
pub(crate) struct LineWriter<'a>(&'a LogSink);

impl Write for LineWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.send(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Waits, when dropped, up to [`FLUSH_WAIT`] for the lines logged so far
/// to be written, so that the last lines before an exit are not lost.
#[derive(Debug)]
pub(crate) struct Flush(LogSink);

impl Drop for Flush {
    fn drop(&mut self) {
        let deadline = Instant::now() + FLUSH_WAIT;
        let (done, written) = sync_channel(1);
        let mut message = Message::Flush(done);
        loop {
            match self.0.queue.try_send(message) {
                Ok(()) => break,
                Err(TrySendError::Disconnected(_)) => return,
                Err(TrySendError::Full(back)) if Instant::now() < deadline => {
                    message = back;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(TrySendError::Full(_)) => return,
            }
        }
        let _ = written.recv_timeout(deadline.saturating_duration_since(Instant::now()));
    }
}

/// The writer thread: writes each line; a line that cannot be written is
/// counted, and once writing works again a line says how many were lost.
fn write_lines(lines: Receiver<Message>, dropped: &AtomicU64, mut out: impl Write) {
    let mut lost = 0u64;
    for message in lines {
        let line = match message {
            Message::Line(line) => line,
            Message::Flush(done) => {
                let _ = out.flush();
                let _ = done.try_send(());
                continue;
            }
        };
        lost += dropped.swap(0, Ordering::Relaxed);
        if lost > 0 {
            let note = format!(
                "squall: {lost} log lines were lost (standard error was full, failing or too slow)\n"
            );
            if out.write_all(note.as_bytes()).is_err() {
                lost += 1;
                continue;
            }
            lost = 0;
        }
        if out.write_all(&line).is_err() {
            lost += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink that fails its first `failures` writes.
    struct Flaky {
        failures: usize,
        written: Arc<std::sync::Mutex<Vec<u8>>>,
    }

    impl Write for Flaky {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.failures > 0 {
                self.failures -= 1;
                return Err(std::io::Error::from(std::io::ErrorKind::StorageFull));
            }
            self.written.lock().map_err(|_| std::io::ErrorKind::Other)?.extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn failing_writes_cost_lines_and_are_reported_once_writing_works() {
        let written = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (sink, flush) = LogSink::start(Flaky { failures: 2, written: written.clone() });
        for line in ["one\n", "two\n", "three\n"] {
            assert_eq!(sink.make_writer().write(line.as_bytes()).ok(), Some(line.len()));
        }
        drop(flush);
        let text = String::from_utf8(written.lock().map(|w| w.clone()).unwrap_or_default());
        assert_eq!(
            text.ok().as_deref(),
            Some(
                "squall: 2 log lines were lost (standard error was full, failing or too slow)\nthree\n"
            )
        );
    }
}
