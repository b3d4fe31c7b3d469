//! StackStorm's `action-chain` workflows rewritten as Orquesta, which
//! Squall runs: each chain node a task whose `on-success`/`on-failure`
//! become transitions, its result published under its name (an action
//! chain's context holds every node's result by name), `publish` kept,
//! `vars` the workflow's. Jinja is kept but for the names it reads: the
//! action's parameters, the chain's variables and published values and
//! the nodes' results become `ctx().NAME`, a node's own result in its
//! `publish` `result()`. A chain that reads anything else (`st2kv`,
//! `action_context`, `{% %}`) is reported, not converted.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

/// What Jinja means itself, never a chain's name.
const KEYWORDS: &[&str] = &[
    "and", "or", "not", "in", "is", "if", "else", "true", "false", "none", "True", "False", "None",
];

/// The chain in `text` (the action's parameters named `inputs`) as
/// Orquesta YAML, with the (node, action) pairs it runs; or why not.
pub(super) fn convert(
    text: &str,
    inputs: &[String],
) -> Result<(String, Vec<(String, String)>), String> {
    let chain: Value = serde_yaml_ng::from_str(text).map_err(|e| format!("not YAML: {e}"))?;
    let nodes = chain.get("chain").and_then(Value::as_array).ok_or("no `chain` list")?;
    let mut names = BTreeSet::new();
    for node in nodes {
        let name = node.get("name").and_then(Value::as_str).ok_or("a node without a name")?;
        if !identifier(name) {
            return Err(format!("node `{name}`: not a name Jinja can read (letters, digits, `_`)"));
        }
        names.insert(name.to_owned());
    }
    let vars = chain.get("vars").and_then(Value::as_object).cloned().unwrap_or_default();
    let mut known: BTreeSet<String> = names.clone();
    known.extend(inputs.iter().cloned());
    known.extend(vars.keys().cloned());
    for node in nodes {
        if let Some(publish) = node.get("publish").and_then(Value::as_object) {
            known.extend(publish.keys().cloned());
        }
    }
    let mut tasks = Map::new();
    let mut calls = Vec::new();
    for node in nodes {
        let name = node["name"].as_str().unwrap_or_default();
        let at = |what: &str| format!("node `{name}`: {what}");
        let action = node.get("ref").and_then(Value::as_str).ok_or_else(|| at("no `ref`"))?;
        calls.push((name.to_owned(), action.to_owned()));
        let input = match node.get("parameters") {
            None | Some(Value::Null) => Value::Object(Map::new()),
            Some(p) => rewrite(p, &known, None).map_err(|e| at(&e))?,
        };
        let own = json!({ name: "{{ result() }}" });
        let mut publish = vec![own.clone()];
        if let Some(extra) = node.get("publish").and_then(Value::as_object) {
            for (key, value) in extra {
                let value = rewrite(value, &known, Some(name)).map_err(|e| at(&e))?;
                publish.push(json!({ key: value }));
            }
        }
        let target = |field: &str| -> Result<Option<&str>, String> {
            match node.get(field).and_then(Value::as_str) {
                Some(target) if names.contains(target) => Ok(Some(target)),
                Some(target) => Err(at(&format!("{field}: no node `{target}`"))),
                None => Ok(None),
            }
        };
        let mut success = json!({ "when": "{{ succeeded() }}", "publish": publish });
        if let Some(target) = target("on-success")? {
            success["do"] = json!([target]);
        }
        let mut next = vec![success];
        // A failure with somewhere to go is handled, in a chain as in
        // Orquesta; without one it fails the chain, so no transition may
        // match it (Orquesta counts any matching transition as handling).
        if let Some(target) = target("on-failure")? {
            next.push(json!({ "when": "{{ failed() }}", "publish": [own], "do": [target] }));
        }
        tasks.insert(name.to_owned(), json!({ "action": action, "input": input, "next": next }));
    }
    let start = match chain.get("default").and_then(Value::as_str) {
        Some(start) if names.contains(start) => start.to_owned(),
        Some(start) => return Err(format!("default: no node `{start}`")),
        None => nodes.first().and_then(|n| n["name"].as_str()).ok_or("an empty chain")?.to_owned(),
    };
    // Orquesta starts every task no transition leads to; a chain starts at
    // `default` only, so the others are reached only through it.
    let reached: BTreeSet<String> = tasks
        .values()
        .flat_map(|t| t["next"].as_array().into_iter().flatten())
        .filter_map(|n| n["do"][0].as_str().map(str::to_owned))
        .collect();
    tasks.retain(|name, _| *name == start || reached.contains(name));
    let mut workflow = json!({
        "version": 1.0,
        "description": "Converted from a StackStorm action-chain by `squall pack import`",
        "input": inputs,
        "tasks": tasks,
    });
    if !vars.is_empty() {
        let vars: Result<Vec<Value>, String> =
            vars.iter().map(|(k, v)| Ok(json!({ k: rewrite(v, &known, None)? }))).collect();
        workflow["vars"] = Value::Array(vars?);
    }
    let yaml = serde_yaml_ng::to_string(&workflow).map_err(|e| e.to_string())?;
    Ok((yaml, calls))
}

fn identifier(name: &str) -> bool {
    name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Every string in `value` with its Jinja names rewritten.
fn rewrite(value: &Value, known: &BTreeSet<String>, own: Option<&str>) -> Result<Value, String> {
    Ok(match value {
        Value::String(text) => Value::String(template(text, known, own)?),
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| rewrite(v, known, own)).collect::<Result<_, _>>()?)
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), rewrite(v, known, own)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

/// `text` with each `{{ … }}`'s names rewritten.
fn template(text: &str, known: &BTreeSet<String>, own: Option<&str>) -> Result<String, String> {
    if text.contains("{%") {
        return Err("Jinja statements (`{% %}`) are not converted yet".into());
    }
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or("a `{{` that is not closed")?;
        out.push_str("{{");
        out.push_str(&expression(&after[..end], known, own)?);
        out.push_str("}}");
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// One expression with the chain's names read from the workflow context.
fn expression(expr: &str, known: &BTreeSet<String>, own: Option<&str>) -> Result<String, String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' || c == '"' {
            let close = chars[i + 1..].iter().position(|d| *d == c).ok_or("an unclosed string")?;
            out.extend(&chars[i..=i + 1 + close]);
            i += close + 2;
            continue;
        }
        if c.is_ascii_alphabetic() || c == '_' {
            let length =
                chars[i..].iter().take_while(|d| d.is_ascii_alphanumeric() || **d == '_').count();
            let name: String = chars[i..i + length].iter().collect();
            let called = chars[i + length..].iter().find(|d| !d.is_whitespace()) == Some(&'(');
            i += length;
            // After `.` a name is an attribute, after `|` a filter.
            if matches!(out.trim_end().chars().last(), Some('.' | '|'))
                || called
                || KEYWORDS.contains(&name.as_str())
            {
                out.push_str(&name);
            } else if Some(name.as_str()) == own {
                out.push_str("result()");
            } else if known.contains(&name) {
                out.push_str(&format!("ctx().{name}"));
            } else {
                return Err(format!(
                    "`{name}` in `{{{{{expr}}}}}` is not a parameter, variable or node of the chain"
                ));
            }
            continue;
        }
        out.push(c);
        i += 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> BTreeSet<String> {
        ["input1", "c1", "x"].iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn names_are_read_from_the_context() {
        let k = known();
        assert_eq!(template("echo {{input1}}", &k, None).as_deref(), Ok("echo {{ctx().input1}}"));
        assert_eq!(
            template("{{ c1.stdout | upper }} {{ 'c1' }}", &k, None).as_deref(),
            Ok("{{ ctx().c1.stdout | upper }} {{ 'c1' }}")
        );
        assert_eq!(
            template("{{ c1.stdout }}", &k, Some("c1")).as_deref(),
            Ok("{{ result().stdout }}")
        );
        assert_eq!(
            template("{{ x if x else none }}", &k, None).as_deref(),
            Ok("{{ ctx().x if ctx().x else none }}")
        );
        assert!(template("{{ st2kv.system.a }}", &k, None).is_err());
        assert!(template("{% if x %}a{% endif %}", &k, None).is_err());
    }
}
