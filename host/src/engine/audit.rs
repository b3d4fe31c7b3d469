//! [`StoreAudit`]: capabilities the runtime refused a pack, appended to the
//! store's audit log as `capability.denied` events.

use serde_json::json;

use crate::runtime::{AuditSink, BoxFuture, Denial};
use crate::store::{AuditEvent, Store, now_millis};

/// The audit action of a refused capability.
pub const CAPABILITY_DENIED: &str = "capability.denied";

/// Appends every denial to the durable audit log (actor `pack:<name>`,
/// subject the target, `detail.capability` what was asked for), so a pack
/// hears `denied` only once its attempt is on record. Denials are also
/// logged as warnings; a failed append is logged as an error and does not
/// change what the pack sees.
#[derive(Debug, Clone)]
pub struct StoreAudit {
    store: Store,
}

impl StoreAudit {
    /// Records denials in `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

/// The audit event that records `denial`.
pub fn denial_event(denial: &Denial) -> AuditEvent {
    AuditEvent {
        at: now_millis(),
        actor: format!("pack:{}", denial.pack),
        action: CAPABILITY_DENIED.to_owned(),
        subject: denial.target.clone(),
        detail: json!({ "capability": denial.capability }),
    }
}

impl AuditSink for StoreAudit {
    fn denied<'a>(&'a self, denial: Denial) -> BoxFuture<'a, ()> {
        tracing::warn!(
            pack = %denial.pack,
            capability = %denial.capability,
            target = %denial.target,
            "capability denied"
        );
        let event = denial_event(&denial);
        Box::pin(async move {
            if let Err(error) = self.store.write(move |tx| tx.append_audit(&event)).await {
                tracing::error!(
                    %error,
                    pack = %denial.pack,
                    capability = %denial.capability,
                    "cannot record a capability denial in the audit log"
                );
            }
        })
    }
}
