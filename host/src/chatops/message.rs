//! What chat is told: an alias's acknowledgement when its execution
//! starts and its result when it ends (StackStorm's `ack` and `result`,
//! Jinja with `execution` and `alias` in scope), cut to a size chat
//! platforms take, and the routes announcements travel on.

use serde_json::{Map, Value};

use super::ActionAlias;

/// The longest message sent to chat, in characters. Slack shows about
/// 4,000 characters of a message before folding it, and Mattermost takes
/// 16,383; what is cut says so and where the rest is.
pub const MAX_MESSAGE_CHARS: usize = 4000;

/// The longest announcement route, in bytes.
pub const MAX_ROUTE_BYTES: usize = 64;

/// Checks a route (`chatops`, `errbot`, `hubot`): it ends up in an event
/// name, so letters, digits, `_`, `-` and `.` only.
pub fn check_route(route: &str) -> Result<(), String> {
    let fits = !route.is_empty()
        && route.len() <= MAX_ROUTE_BYTES
        && route.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if fits {
        Ok(())
    } else {
        Err(format!(
            "expected 1 to {MAX_ROUTE_BYTES} letters, digits, `_`, `-` or `.`, found `{}`",
            route.escape_debug()
        ))
    }
}

/// A message for chat with its adapter-specific extras.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatMessage {
    /// The text.
    pub message: String,
    /// `extra`, rendered (Slack attachments and the like).
    pub extra: Option<Value>,
}

/// The acknowledgement of a started execution, when the alias's `ack`
/// has a `format` (without one, the bot writes its own). `execution` is
/// the execution as the API shows it. A template that does not render
/// gives StackStorm's message saying so, rather than no answer.
pub fn ack(alias: &ActionAlias, execution: &Value) -> Option<ChatMessage> {
    let ack = alias.ack.as_ref()?;
    let vars = vars(alias, execution);
    let message = ack.format.as_ref().map(|format| {
        render("ack.format", format, &vars)
            .unwrap_or_else(|e| format!("Cannot render \"format\" in field \"ack\" for alias. {e}"))
    })?;
    let extra = ack.extra.as_ref().map(|extra| render_extra("ack", extra, &vars));
    Some(ChatMessage { message: cut(&message, execution), extra })
}

/// The message for a finished execution: the alias's `result.format`, or
/// the default listing of status and result; none when the alias turned
/// results off.
pub fn result(alias: Option<&ActionAlias>, execution: &Value) -> Option<ChatMessage> {
    let settings = alias.and_then(|a| a.result.as_ref());
    if settings.and_then(|r| r.enabled) == Some(false) {
        return None;
    }
    let vars =
        alias.map_or_else(|| serde_json::json!({"execution": execution}), |a| vars(a, execution));
    let message = match settings.and_then(|r| r.format.as_ref()) {
        Some(format) => render("result.format", format, &vars).unwrap_or_else(|e| {
            format!("Cannot render \"format\" in field \"result\" for alias. {e}")
        }),
        None => default_result(execution),
    };
    let extra = settings.and_then(|r| r.extra.as_ref()).map(|e| render_extra("result", e, &vars));
    Some(ChatMessage { message: cut(&message, execution), extra })
}

fn vars(alias: &ActionAlias, execution: &Value) -> Value {
    let alias = serde_json::to_value(alias).unwrap_or(Value::Null);
    serde_json::json!({"execution": execution, "alias": alias, "actionalias": alias})
}

fn render(name: &str, text: &str, vars: &Value) -> Result<String, String> {
    crate::rules::render_message(name, text, vars)
}

/// `extra` with every string in it rendered (StackStorm's
/// `render_values`); a value that does not render is kept as written.
fn render_extra(field: &str, extra: &Map<String, Value>, vars: &Value) -> Value {
    fn walk(value: &Value, name: &str, vars: &Value) -> Value {
        match value {
            Value::String(text) => {
                Value::String(render(name, text, vars).unwrap_or_else(|_| text.clone()))
            }
            Value::Array(items) => {
                Value::Array(items.iter().map(|v| walk(v, name, vars)).collect())
            }
            Value::Object(map) => {
                Value::Object(map.iter().map(|(k, v)| (k.clone(), walk(v, name, vars))).collect())
            }
            other => other.clone(),
        }
    }
    walk(&Value::Object(extra.clone()), &format!("{field}.extra"), vars)
}

/// StackStorm's default result message: the action, its status, its id,
/// how long it took and its result as indented `key : value` lines.
fn default_result(execution: &Value) -> String {
    let text = |path: &[&str]| {
        path.iter()
            .try_fold(execution, |value, key| value.get(key))
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
            .unwrap_or_default()
    };
    let mut out = format!(
        "Action {} completed.\nstatus : {}\nexecution: {}\n",
        text(&["action", "ref"]),
        text(&["status"]),
        text(&["id"])
    );
    if let Some(seconds) = execution.get("elapsed_seconds").and_then(Value::as_f64) {
        out.push_str(&format!("Took {} to complete.\n", human_seconds(seconds)));
    }
    let result = execution.get("result").filter(|r| !r.is_null());
    let error = execution.get("error").and_then(Value::as_str);
    if let Some(result) = result {
        out.push_str("result :\n--------\n");
        listing(result, "", &mut out);
    } else if let Some(error) = error {
        out.push_str(&format!("error : {error}\n"));
    }
    out
}

/// `value` as `key : value` lines, nested objects indented.
fn listing(value: &Value, prefix: &str, out: &mut String) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match value {
                    Value::Object(_) => {
                        out.push_str(&format!("{prefix}{key} :\n"));
                        listing(value, &format!("{prefix}  "), out);
                    }
                    Value::String(text) => {
                        out.push_str(&format!("{prefix}{key} : {}\n", text.trim()));
                    }
                    other => out.push_str(&format!("{prefix}{key} : {other}\n")),
                }
            }
        }
        Value::String(text) => out.push_str(&format!("{prefix}{}\n", text.trim())),
        other => out.push_str(&format!("{prefix}{other}\n")),
    }
}

fn human_seconds(seconds: f64) -> String {
    let whole = seconds.round() as u64;
    match whole {
        0 => "less than a second".to_owned(),
        1..=59 => format!("{whole}s"),
        60..=3599 => format!("{}m{}s", whole / 60, whole % 60),
        _ => format!("{}h{}m", whole / 3600, (whole % 3600) / 60),
    }
}

/// `message` cut to [`MAX_MESSAGE_CHARS`] at a line end where there is
/// one, with a last line saying how much was left out and where to find
/// it.
fn cut(message: &str, execution: &Value) -> String {
    let total = message.chars().count();
    if total <= MAX_MESSAGE_CHARS {
        return message.to_owned();
    }
    let head: String = message.chars().take(MAX_MESSAGE_CHARS).collect();
    let head = match head.rfind('\n') {
        Some(at) if at > head.len() / 2 => head[..at].to_owned(),
        _ => head,
    };
    let left = total - head.chars().count();
    let id = execution.get("id").and_then(Value::as_str).unwrap_or("?");
    format!("{head}\n… {left} more characters not shown; all of it: `squall execution get {id}`")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alias(yaml: &str) -> ActionAlias {
        ActionAlias::from_yaml(yaml, "a.yaml", Some("chatops")).expect("alias loads")
    }

    fn execution(result: Value) -> Value {
        serde_json::json!({
            "id": "0190", "status": "succeeded", "action": {"ref": "core.echo"},
            "elapsed_seconds": 2.2, "result": result, "parameters": {"message": "hi"}
        })
    }

    #[test]
    fn routes_are_names() {
        assert!(check_route("chatops").is_ok());
        assert!(check_route("err-bot.1_x").is_ok());
        for bad in ["", "a b", "a\n", "é", &"x".repeat(65)] {
            assert!(check_route(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ack_and_result_render_their_formats() {
        let alias = alias(
            "name: say\naction_ref: core.echo\nformats: ['say {{message}}']\n\
             ack: {format: 'on it: {{ execution.parameters.message }}'}\n\
             result: {format: 'said {{ execution.result.message }}', extra: {color: '{{ execution.status }}'}}\n",
        );
        let execution = execution(serde_json::json!({"message": "hi"}));
        let ack = ack(&alias, &execution).expect("an ack format");
        assert_eq!(ack.message, "on it: hi");
        let result = result(Some(&alias), &execution).expect("results on");
        assert_eq!(result.message, "said hi");
        assert_eq!(result.extra, Some(serde_json::json!({"color": "succeeded"})));
    }

    #[test]
    fn a_bad_template_says_so_and_disabled_results_say_nothing() {
        let alias = alias(
            "name: say\naction_ref: core.echo\nformats: ['say']\nack: {format: '{{ nope.x }}'}\n\
             result: {enabled: false}\n",
        );
        let execution = execution(Value::Null);
        let ack = ack(&alias, &execution).expect("an ack format");
        assert!(
            ack.message.starts_with("Cannot render \"format\" in field \"ack\""),
            "{}",
            ack.message
        );
        assert_eq!(result(Some(&alias), &execution), None);
    }

    #[test]
    fn the_default_result_lists_the_result_and_long_ones_are_cut() {
        let finished = execution(serde_json::json!({"message": "hi", "n": {"a": 1}}));
        let message = result(None, &finished).expect("results on").message;
        assert_eq!(
            message,
            "Action core.echo completed.\nstatus : succeeded\nexecution: 0190\nTook 2s to complete.\n\
             result :\n--------\nmessage : hi\nn :\n  a : 1\n"
        );
        let long = execution(Value::String("line\n".repeat(2000)));
        let message = result(None, &long).expect("results on").message;
        assert!(message.chars().count() < MAX_MESSAGE_CHARS + 100);
        assert!(
            message.ends_with("more characters not shown; all of it: `squall execution get 0190`")
        );
    }
}
