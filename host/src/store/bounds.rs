//! [`RecordLimits`]: caps on what one record may store — a trigger
//! payload, an execution's parameters, result, logs and error text — and
//! how the store keeps to them. Parameters over the cap are refused (an
//! action must never run on a cut-down input); outputs over it (results,
//! logs, error texts, and payloads the engine makes itself) are stored
//! truncated behind a marker that says so and gives the original size, so
//! that nothing shrinks silently. Events from outside are refused before
//! this point (`engine::Ingest` checks the payload cap).

use serde::Serialize;
use serde_json::{Value, json};

use super::error::WriteError;
use super::records::{Execution, ExecutionLog, RuleEnforcement};

/// The caps, in bytes of compact JSON (what the store writes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordLimits {
    /// A trigger instance's payload. Events over it are refused by the
    /// engine (a webhook answers 422 naming the cap); one the engine makes
    /// itself is stored truncated.
    pub payload_bytes: usize,
    /// An execution's parameters. A new execution over it is refused (the
    /// API answers 422, a rule's enforcement and a workflow task record the
    /// error).
    pub parameters_bytes: usize,
    /// An execution's result; a larger one is stored truncated (the
    /// execution keeps its status: the action did run).
    pub result_bytes: usize,
    /// The logs of one attempt together; lines past it are dropped and a
    /// last line says how many.
    pub logs_bytes: usize,
    /// One error text (an execution's, an attempt's, a rule
    /// enforcement's); a longer one is cut and says so.
    pub error_bytes: usize,
}

impl Default for RecordLimits {
    fn default() -> Self {
        Self {
            // As large as the webhook body limit: what the API accepts can
            // be stored, give or take the headers that travel with it.
            payload_bytes: 4 << 20,
            // As large as the API's request body limit.
            parameters_bytes: 1 << 20,
            result_bytes: 1 << 20,
            logs_bytes: 256 << 10,
            error_bytes: 16 << 10,
        }
    }
}

/// How much of a truncated value's JSON text its marker keeps, so an
/// operator can see what it was.
const HEAD_BYTES: usize = 1024;

impl RecordLimits {
    /// `Err` naming the cap when `parameters` are too large to store.
    pub fn check_parameters(&self, parameters: &Value) -> Result<(), String> {
        over("parameters", encoded_len(parameters), self.parameters_bytes)
    }

    /// `Err` naming the cap when `payload` is too large to store.
    pub fn check_payload(&self, payload: &Value) -> Result<(), String> {
        over("payload", encoded_len(payload), self.payload_bytes)
    }

    /// `value` as stored under `cap`: `None` when it fits, else the
    /// truncation marker that stands in for it.
    pub fn bound_value(value: &Value, cap: usize) -> Option<Value> {
        let size = encoded_len(value);
        (size > cap).then(|| marker(&serde_json::to_vec(value).unwrap_or_default(), cap))
    }

    /// Cuts a head's error texts (its own, its attempts') to their cap.
    pub(crate) fn bound_errors(&self, head: &mut Execution) {
        let errors = head.retries.iter_mut().map(|a| &mut a.error);
        for error in std::iter::once(&mut head.error).chain(errors) {
            self.cut(error);
        }
    }

    /// Logs within their cap, with a last line saying what was left out;
    /// `None` when they fit.
    pub(crate) fn bound_logs(&self, logs: &[ExecutionLog]) -> Option<Vec<ExecutionLog>> {
        bound_logs(logs, self.logs_bytes)
    }

    /// Cuts the enforcements' error texts to their cap.
    pub(crate) fn bound_decisions(&self, decisions: &mut [RuleEnforcement]) {
        for decision in decisions {
            self.cut(&mut decision.error);
        }
    }

    fn cut(&self, error: &mut Option<String>) {
        if let Some(cut) = error.as_deref().and_then(|e| bound_text(e, self.error_bytes)) {
            *error = Some(cut);
        }
    }

    /// The marker for a result whose JSON is `encoded`, when over the cap.
    pub(crate) fn bound_result(&self, encoded: &[u8]) -> Option<Value> {
        (encoded.len() > self.result_bytes).then(|| marker(encoded, self.result_bytes))
    }

    /// The payload JSON `encoded` as stored: itself, or its marker's.
    pub(crate) fn bound_payload(&self, encoded: Vec<u8>) -> Vec<u8> {
        if encoded.len() <= self.payload_bytes {
            return encoded;
        }
        serde_json::to_vec(&marker(&encoded, self.payload_bytes)).unwrap_or_default()
    }

    /// Refuses a new execution whose parameters are over the cap.
    pub(crate) fn refuse_parameters(&self, execution: &Execution) -> Result<(), WriteError> {
        self.check_parameters(&execution.parameters)
            .map_err(|message| WriteError::Invalid { field: "parameters", message })
    }
}

fn over(what: &str, size: usize, cap: usize) -> Result<(), String> {
    if size <= cap {
        return Ok(());
    }
    Err(format!("{what}: {} as JSON, over the {} cap on stored {what}", human(size), human(cap)))
}

/// The marker a value over its cap is stored as, from its JSON text.
fn marker(encoded: &[u8], cap: usize) -> Value {
    // JSON text is UTF-8: back off continuation bytes to cut at a char.
    let mut end = encoded.len().min(HEAD_BYTES.min(cap));
    while end > 0 && end < encoded.len() && encoded[end] & 0xC0 == 0x80 {
        end -= 1;
    }
    json!({
        "truncated": true,
        "original_bytes": encoded.len(),
        "cap_bytes": cap,
        "head": String::from_utf8_lossy(&encoded[..end]),
    })
}

/// `logs` cut to `cap` bytes of messages, with a last line saying what
/// was left out; `None` when they fit.
fn bound_logs(logs: &[ExecutionLog], cap: usize) -> Option<Vec<ExecutionLog>> {
    let size = |l: &ExecutionLog| l.level.len() + l.message.len();
    let total: usize = logs.iter().map(size).sum();
    if total <= cap {
        return None;
    }
    let mut kept = Vec::new();
    let mut used = 0;
    for line in logs {
        if used + size(line) > cap {
            break;
        }
        used += size(line);
        kept.push(line.clone());
    }
    let dropped = logs.len() - kept.len();
    kept.push(ExecutionLog {
        level: "warn".into(),
        message: format!(
            "squall: {dropped} more log lines ({}) not stored: over the {} cap on stored logs",
            human(total - used),
            human(cap)
        ),
    });
    Some(kept)
}

/// `text` cut to `cap` bytes with a note of its length; `None` when it
/// fits.
fn bound_text(text: &str, cap: usize) -> Option<String> {
    (text.len() > cap).then(|| {
        let cut = &text[..floor_char_boundary(text, cap)];
        format!("{cut} … [truncated: {} in all, over the {} cap]", human(text.len()), human(cap))
    })
}

fn floor_char_boundary(text: &str, at: usize) -> usize {
    (0..=at.min(text.len())).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0)
}

/// How many bytes `value` takes as compact JSON, without building the text.
pub(crate) fn encoded_len(value: &impl Serialize) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Writing to a counter cannot fail; a value that cannot be encoded
    // fails later, when it is encoded for real.
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

/// A byte count for people: `512 bytes`, `16 KiB`, `4.2 MiB`.
pub(crate) fn human(bytes: usize) -> String {
    const KIB: usize = 1 << 10;
    const MIB: usize = 1 << 20;
    let whole = |n: usize, unit: usize, name: &str| {
        if n.is_multiple_of(unit) {
            format!("{} {name}", n / unit)
        } else {
            format!("{:.1} {name}", n as f64 / unit as f64)
        }
    };
    match bytes {
        b if b >= MIB => whole(b, MIB, "MiB"),
        b if b >= KIB => whole(b, KIB, "KiB"),
        b => format!("{b} bytes"),
    }
}
