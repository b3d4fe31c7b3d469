//! The chatops example pack: `decide` turns an approval inquiry's answer
//! into the message chat shows; `approve` (workflows/approve.yaml) asks the
//! inquiry and then decides. The aliases beside `pack.toml` put these,
//! `core.echo` and the host's built-in `chatops.*` actions into chat.

use serde::{Deserialize, Serialize};
use squall_sdk::{Context, Result};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Decide {
    change: String,
    approved: bool,
}

#[derive(Serialize)]
struct Decision {
    change: String,
    approved: bool,
    message: String,
}

/// What was decided about `change`, in a sentence for chat.
fn decide(params: Decide, _ctx: &Context) -> Result<Decision> {
    let verdict = if params.approved { "approved" } else { "declined" };
    let message = format!("Change `{}` was {verdict}.", params.change);
    Ok(Decision { change: params.change, approved: params.approved, message })
}

squall_sdk::export_pack! {
    actions: {
        "decide" => decide,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_decision_names_the_change_and_the_verdict() {
        let ctx = Context { execution_id: "e1".into(), pack: "chatops".into(), attempt: 1 };
        let yes = decide(Decide { change: "db-7".into(), approved: true }, &ctx).expect("ok");
        assert_eq!(yes.message, "Change `db-7` was approved.");
        let no = decide(Decide { change: "db-7".into(), approved: false }, &ctx).expect("ok");
        assert_eq!(no.message, "Change `db-7` was declined.");
    }
}
