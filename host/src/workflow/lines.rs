//! Line numbers for the fields of a workflow file.
//!
//! serde_yaml_ng reports locations only for errors, so a valid document's
//! lines come from a scan of its text: block-style mappings and sequences
//! are followed by indentation and every key and sequence item gets the
//! path the model uses in its messages (`tasks.notify.next[0].do`). Flow
//! collections (`{...}`, `[...]`) and the lines of block scalars are not
//! entered; a path the scan did not see takes the line of its nearest
//! ancestor that it did (so `input.message` inside a flow map points at
//! `input:`).

use std::collections::HashMap;

/// Paths of a document mapped to their 1-based line numbers.
#[derive(Debug, Clone, Default)]
pub(crate) struct LineIndex {
    lines: HashMap<String, usize>,
}

#[derive(Debug)]
struct Node {
    /// Indentation of the key or `-` that opened it; -1 for the document.
    indent: isize,
    path: String,
    /// A sequence item (`- `) rather than a mapping key.
    item: bool,
    /// Items seen so far in the sequence this node holds.
    items: usize,
}

impl LineIndex {
    pub(crate) fn scan(text: &str) -> LineIndex {
        let mut index = LineIndex::default();
        let mut stack = vec![Node { indent: -1, path: String::new(), item: false, items: 0 }];
        // While inside a block scalar: the indentation of its key.
        let mut block_scalar: Option<isize> = None;
        for (number, raw) in text.lines().enumerate() {
            let line = number + 1;
            let content = raw.trim_start_matches(' ');
            let indent = (raw.len() - content.len()) as isize;
            if content.trim().is_empty() {
                continue;
            }
            if let Some(owner) = block_scalar {
                if indent > owner {
                    continue;
                }
                block_scalar = None;
            }
            if content.starts_with('#') || content.starts_with("---") || content.starts_with("...")
            {
                continue;
            }
            let mut indent = indent;
            let mut content = content;
            if content == "-" || content.starts_with("- ") {
                while stack.len() > 1 {
                    let top = stack.last().map_or(-1, |n| n.indent);
                    let top_item = stack.last().is_some_and(|n| n.item);
                    if top > indent || (top == indent && top_item) {
                        stack.pop();
                    } else {
                        break;
                    }
                }
                let Some(parent) = stack.last_mut() else { break };
                let path = format!("{}[{}]", parent.path, parent.items);
                parent.items += 1;
                index.lines.insert(path.clone(), line);
                stack.push(Node { indent, path, item: true, items: 0 });
                let rest = content[1..].trim_start_matches(' ');
                if rest.is_empty() || rest.starts_with('#') {
                    continue;
                }
                indent += (content.len() - rest.len()) as isize;
                content = rest;
            }
            let Some((key, value)) = split_key(content) else { continue };
            while stack.len() > 1 && stack.last().is_some_and(|n| n.indent >= indent) {
                stack.pop();
            }
            let Some(parent) = stack.last() else { break };
            let path =
                if parent.path.is_empty() { key } else { format!("{}.{}", parent.path, key) };
            index.lines.insert(path.clone(), line);
            let value = value.trim();
            let value = if value.starts_with('#') { "" } else { value };
            if value.starts_with('|') || value.starts_with('>') {
                block_scalar = Some(indent);
            } else if value.is_empty() {
                stack.push(Node { indent, path, item: false, items: 0 });
            }
        }
        index
    }

    /// The line of `path`, or of its nearest ancestor the scan saw; 0 when
    /// none (the document itself).
    pub(crate) fn line_of(&self, path: &str) -> usize {
        let mut path = path;
        loop {
            if let Some(line) = self.lines.get(path) {
                return *line;
            }
            match path.rfind(['.', '[']) {
                Some(cut) => path = &path[..cut],
                None => return 0,
            }
        }
    }
}

/// `key: value` (or `key:`) with the key unquoted; `None` for a line that
/// is not a mapping entry (a plain scalar, a flow collection).
fn split_key(content: &str) -> Option<(String, &str)> {
    if let Some(quote @ ('"' | '\'')) = content.chars().next() {
        let end = content[1..].find(quote)? + 1;
        let rest = content[end + 1..].trim_start();
        let value = rest.strip_prefix(':')?;
        return Some((content[1..end].to_owned(), value));
    }
    if content.starts_with(['{', '[', '&', '*', '!', '|', '>']) {
        return None;
    }
    let bytes = content.as_bytes();
    for (i, byte) in bytes.iter().enumerate() {
        if *byte == b'#' && i > 0 && bytes[i - 1] == b' ' {
            return None;
        }
        if *byte == b':' && (i + 1 == bytes.len() || bytes[i + 1] == b' ') {
            return Some((content[..i].trim_end().to_owned(), &content[i + 1..]));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_of_block_mappings_and_sequences() {
        let text = "\
version: 1.0
input:
  - a
  - b: 1
tasks:
  first:
    action: core.echo
    input: {message: hi}
    next:
    - when: <% succeeded() %>
      do: second
    - do:
        - third
  second:
    action: |
      not: a key
  third:
    action: core.noop
";
        let index = LineIndex::scan(text);
        let lines: Vec<usize> = [
            "version",
            "input[0]",
            "input[1].b",
            "tasks.first",
            "tasks.first.input.message",
            "tasks.first.next[0].when",
            "tasks.first.next[0].do",
            "tasks.first.next[1].do[0]",
            "tasks.second.action",
            "tasks.third",
            "tasks.second.not",
        ]
        .iter()
        .map(|path| index.line_of(path))
        .collect();
        assert_eq!(lines, [1, 3, 4, 6, 8, 10, 11, 13, 15, 17, 14]);
    }
}
