//! [`JetStreamLog`]: the store's replicated log on a JetStream stream. An
//! entry is one message of `squall.log`, appended with JetStream's
//! expected-last-sequence check and acknowledged once the stream's replicas
//! stored it; entries larger than a message may be are kept in the object
//! store under their sha256 and the message carries that name.

use std::sync::{Mutex, PoisonError, mpsc};
use std::time::Duration;

use async_nats::jetstream::consumer::DeliverPolicy;
use async_nats::jetstream::consumer::push::OrderedConfig;
use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::{self, object_store};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

use crate::store::{LogError, ReplicatedLog};

/// The stream holding the log, and its one subject.
pub(crate) const STREAM: &str = "SQUALL_LOG";
pub(crate) const SUBJECT: &str = "squall.log";
/// The object store for entries too large for one message.
pub(crate) const ENTRIES: &str = "squall_entries";
/// Entries above this go to the object store (NATS's default message cap is
/// 1 MiB).
const INLINE_MAX: usize = 768 << 10;
/// What a message holding a reference to a stored entry starts with.
const POINTER: &[u8; 4] = b"SQP1";
/// How long an append waits for the quorum's acknowledgement.
const APPEND_TIMEOUT: Duration = Duration::from_secs(10);

/// The log as the store's writer thread sees it: blocking calls, run on
/// the async runtime that owns the NATS connection.
pub struct JetStreamLog {
    runtime: tokio::runtime::Handle,
    client: async_nats::Client,
    js: jetstream::Context,
    entries: object_store::ObjectStore,
    follow: Mutex<Option<Follow>>,
}

/// An ordered consumer delivering the log from some entry on.
struct Follow {
    received: mpsc::Receiver<Result<(u64, Vec<u8>), String>>,
    /// The last entry handed out.
    delivered: u64,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Follow {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl std::fmt::Debug for JetStreamLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JetStreamLog")
    }
}

impl JetStreamLog {
    pub(crate) fn new(
        runtime: tokio::runtime::Handle,
        client: async_nats::Client,
        js: jetstream::Context,
        entries: object_store::ObjectStore,
    ) -> Self {
        Self { runtime, client, js, entries, follow: Mutex::new(None) }
    }

    async fn append_async(&self, after: u64, entry: Vec<u8>) -> Result<u64, LogError> {
        let payload = if entry.len() > INLINE_MAX {
            let name = hex::encode(Sha256::digest(&entry));
            let mut reader = std::io::Cursor::new(entry);
            self.entries.put(name.as_str(), &mut reader).await.map_err(|e| {
                LogError::Unavailable(format!("cannot store a large entry in `{ENTRIES}`: {e}"))
            })?;
            [POINTER.as_slice(), name.as_bytes()].concat()
        } else {
            entry
        };
        // One id for every try of this append: if a try was stored but its
        // acknowledgement lost (a server died, a leader moved), JetStream
        // answers the next try with the stored entry's sequence instead of
        // storing it twice.
        let id = uuid::Uuid::now_v7().to_string();
        let mut pause = Duration::from_millis(50);
        loop {
            let message = PublishMessage::build()
                .payload(payload.clone().into())
                .message_id(&id)
                .expected_last_sequence(after);
            let acked = match self.js.send_publish(SUBJECT, message).await {
                Ok(ack) => ack.await,
                Err(error) => Err(error),
            };
            match acked {
                Ok(ack) => return Ok(ack.sequence),
                Err(error) if error.kind() == PublishErrorKind::WrongLastSequence => {
                    return Err(LogError::Behind { last: self.last_sequence().await? });
                }
                // No leader for the stream yet, or the connection is being
                // re-established: tried again until the caller's deadline.
                Err(error) => {
                    tracing::debug!(%error, "cluster: appending to the log; trying again");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(500));
                }
            }
        }
    }

    /// The sequence of the log's last entry.
    pub(crate) async fn last_sequence(&self) -> Result<u64, LogError> {
        let mut stream = self
            .js
            .get_stream(STREAM)
            .await
            .map_err(|e| LogError::Unavailable(format!("reading `{STREAM}`: {e}")))?;
        let info = stream
            .info()
            .await
            .map_err(|e| LogError::Unavailable(format!("reading `{STREAM}`: {e}")))?;
        Ok(info.state.last_sequence)
    }

    /// Starts an ordered consumer delivering entries from `first` on.
    fn start_follow(&self, first: u64) -> Follow {
        let (send, received) = mpsc::sync_channel(4096);
        let (client, js, entries) = (self.client.clone(), self.js.clone(), self.entries.clone());
        let task = self.runtime.spawn(async move {
            if let Err(error) = deliver(client, js, entries, first, &send).await {
                let _ = send.send(Err(error));
            }
        });
        Follow { received, delivered: first.saturating_sub(1), task }
    }
}

/// Sends every entry from `first` on, in order, until the receiver is gone.
async fn deliver(
    client: async_nats::Client,
    js: jetstream::Context,
    entries: object_store::ObjectStore,
    first: u64,
    send: &mpsc::SyncSender<Result<(u64, Vec<u8>), String>>,
) -> Result<(), String> {
    let stream = js.get_stream(STREAM).await.map_err(|e| format!("reading `{STREAM}`: {e}"))?;
    let consumer = stream
        .create_consumer(OrderedConfig {
            deliver_subject: client.new_inbox(),
            filter_subject: SUBJECT.into(),
            deliver_policy: DeliverPolicy::ByStartSequence { start_sequence: first.max(1) },
            ..OrderedConfig::default()
        })
        .await
        .map_err(|e| format!("following `{STREAM}`: {e}"))?;
    let mut messages =
        consumer.messages().await.map_err(|e| format!("following `{STREAM}`: {e}"))?;
    while let Some(message) = messages.next().await {
        let message = message.map_err(|e| format!("following `{STREAM}`: {e}"))?;
        let at =
            message.info().map_err(|e| format!("a message of `{STREAM}`: {e}"))?.stream_sequence;
        let payload = message.payload.to_vec();
        let entry = match payload.strip_prefix(POINTER.as_slice()) {
            Some(name) => {
                let name = String::from_utf8_lossy(name).into_owned();
                let mut object = entries
                    .get(name.as_str())
                    .await
                    .map_err(|e| format!("entry {at} is in `{ENTRIES}` as {name}: {e}"))?;
                let mut bytes = Vec::new();
                object
                    .read_to_end(&mut bytes)
                    .await
                    .map_err(|e| format!("entry {at} is in `{ENTRIES}` as {name}: {e}"))?;
                bytes
            }
            None => payload,
        };
        // A full channel waits here: the writer applies in its own time.
        let send = send.clone();
        let sent = tokio::task::spawn_blocking(move || send.send(Ok((at, entry)))).await;
        if !matches!(sent, Ok(Ok(()))) {
            return Ok(());
        }
    }
    Err(format!("the server ended the consumer of `{STREAM}`"))
}

impl ReplicatedLog for JetStreamLog {
    fn append(&self, after: u64, entry: Vec<u8>) -> Result<u64, LogError> {
        self.runtime.block_on(async {
            tokio::time::timeout(APPEND_TIMEOUT, self.append_async(after, entry)).await.map_err(
                |_| {
                    LogError::Unavailable(format!(
                        "no acknowledgement from `{STREAM}` within {APPEND_TIMEOUT:?}"
                    ))
                },
            )?
        })
    }

    fn refollow(&self) {
        self.follow.lock().unwrap_or_else(PoisonError::into_inner).take();
    }

    fn read(&self, after: u64, wait: Duration) -> Result<Vec<(u64, Vec<u8>)>, LogError> {
        let mut follow = self.follow.lock().unwrap_or_else(PoisonError::into_inner);
        // Delivered past what the node applied means entries were handed out
        // and not applied: start again from the node's own position.
        if follow.as_ref().is_none_or(|f| f.delivered > after) {
            *follow = Some(self.start_follow(after + 1));
        }
        let Some(current) = follow.as_mut() else { return Ok(Vec::new()) };
        let mut entries = Vec::new();
        let first = if wait.is_zero() {
            current.received.try_recv().ok()
        } else {
            current.received.recv_timeout(wait).ok()
        };
        let mut next = first;
        while let Some(item) = next {
            match item {
                Ok((at, entry)) => {
                    current.delivered = at;
                    if at > after {
                        entries.push((at, entry));
                    }
                }
                Err(error) => {
                    *follow = None;
                    return Err(LogError::Unavailable(error));
                }
            }
            if entries.len() >= 1024 {
                break;
            }
            next = current.received.try_recv().ok();
        }
        Ok(entries)
    }
}
