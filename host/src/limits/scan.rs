//! The nesting pre-scans: one pass over the bytes with a little state
//! carried across lines (a stack of indentation or brackets). Each answers
//! the line where `max` was passed. They may over-count a little (a plain
//! YAML scalar continued on a line that starts with `[`), never under-count
//! flow collections, which are what makes libyaml slow.

/// JSON: `[` and `{` outside strings.
pub(super) fn json(text: &[u8], max: usize) -> Result<(), usize> {
    let (mut depth, mut line) = (0usize, 1usize);
    let (mut in_string, mut escaped) = (false, false);
    for &byte in text {
        if byte == b'\n' {
            line += 1;
        }
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return Err(line);
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// TOML: the segments of the last table header, the segments of the keys
/// on a line, and arrays and inline tables (which may span lines).
pub(super) fn toml(text: &[u8], max: usize) -> Result<(), usize> {
    // The open arrays and inline tables, innermost last.
    let mut open: Vec<u8> = Vec::new();
    let mut header = 0usize;
    // Inside a multi-line string: its delimiter.
    let mut long: Option<&[u8]> = None;
    for (index, line) in text.split(|b| *b == b'\n').enumerate() {
        let number = index + 1;
        let mut i = 0;
        if let Some(delimiter) = long {
            match find(line, 0, delimiter, delimiter == b"\"\"\"") {
                Some(end) => (long, i) = (None, end),
                None => continue,
            }
        }
        let mut keys = 0usize;
        let mut at_key = open.is_empty();
        let first = line.iter().position(|b| !b" \t".contains(b)).unwrap_or(line.len());
        if open.is_empty() && i == 0 && line.get(first) == Some(&b'[') {
            // `[a.b]` or `[[a.b]]`: its segments are the depth of what follows.
            header = 1 + line[first..].iter().filter(|b| **b == b'.').count();
            if header > max {
                return Err(number);
            }
            continue;
        }
        while i < line.len() {
            let byte = line[i];
            i += 1;
            match byte {
                b'#' => break,
                b'"' | b'\'' => {
                    let triple =
                        line.get(i..i + 2) == Some(if byte == b'"' { b"\"\"" } else { b"''" });
                    let delimiter: &[u8] = match (byte, triple) {
                        (b'"', true) => b"\"\"\"",
                        (b'\'', true) => b"'''",
                        (b'"', false) => b"\"",
                        _ => b"'",
                    };
                    let start = if triple { i + 2 } else { i };
                    match find(line, start, delimiter, byte == b'"') {
                        Some(end) => i = end,
                        None if triple => {
                            long = Some(delimiter);
                            break;
                        }
                        None => break,
                    }
                }
                b'.' if at_key => keys += 1,
                b'=' => at_key = false,
                b'[' | b'{' => {
                    open.push(byte);
                    at_key = byte == b'{';
                    if header + keys + 1 + open.len() > max {
                        return Err(number);
                    }
                }
                b']' | b'}' => drop(open.pop()),
                b',' => at_key = open.last() == Some(&b'{'),
                _ => {}
            }
        }
        if header + keys + 1 > max {
            return Err(number);
        }
    }
    Ok(())
}

/// The end (one past) of `delimiter` in `line` from `start`, skipping
/// backslash escapes where `escapes`.
fn find(line: &[u8], start: usize, delimiter: &[u8], escapes: bool) -> Option<usize> {
    let mut i = start;
    while i < line.len() {
        if escapes && line[i] == b'\\' {
            i += 2;
            continue;
        }
        if line[i..].starts_with(delimiter) {
            return Some(i + delimiter.len());
        }
        i += 1;
    }
    None
}

/// YAML, line by line. In block context a line's depth is its place in
/// the indentation stack, plus the nodes its `- `, `? ` and `key: `
/// indicators open after the first, plus the flow collections it opens;
/// quoted scalars, comments and block scalars (`|`, `>`) are skipped, and
/// a `[` or `{` counts only where a node starts (inside a plain scalar it
/// is text, as in `message: hello {{ name }}`). In flow context every
/// bracket outside quotes counts, across lines.
pub(super) fn yaml(text: &[u8], max: usize) -> Result<(), usize> {
    let mut scan =
        Yaml { max, indents: Vec::new(), flow: 0, flow_base: 0, quote: None, block: None };
    for (index, line) in text.split(|b| *b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        scan.line(line).map_err(|()| index + 1)?;
    }
    Ok(())
}

struct Yaml {
    max: usize,
    /// Indentation of the enclosing block nodes.
    indents: Vec<usize>,
    /// Open flow collections.
    flow: usize,
    /// The block depth the open flow collections sit in.
    flow_base: usize,
    /// Inside a quoted scalar that continues on the next line.
    quote: Option<u8>,
    /// Inside a block scalar: the indentation of the line that opened it.
    block: Option<usize>,
}

impl Yaml {
    fn line(&mut self, line: &[u8]) -> Result<(), ()> {
        let mut i = 0;
        // Where a node may start (indicators and brackets count there).
        let mut node_start = true;
        if let Some(quote) = self.quote {
            match close_quote(line, 0, quote) {
                Some(end) => (self.quote, i, node_start) = (None, end, false),
                None => return Ok(()),
            }
        } else if self.flow == 0 {
            let indent = line.iter().take_while(|b| **b == b' ').count();
            let rest = &line[indent..];
            if rest.iter().all(|b| b" \t".contains(b)) {
                return Ok(());
            }
            if let Some(owner) = self.block {
                if indent > owner {
                    return Ok(());
                }
                self.block = None;
            }
            if rest.starts_with(b"#") {
                return Ok(());
            }
            let marker = indent == 0
                && (rest.starts_with(b"---") || rest.starts_with(b"..."))
                && rest.get(3).is_none_or(|b| b" \t".contains(b));
            if marker {
                self.indents.clear();
                i = 3;
            } else {
                while self.indents.last().is_some_and(|top| *top > indent) {
                    self.indents.pop();
                }
                if self.indents.last() != Some(&indent) {
                    self.indents.push(indent);
                }
                i = indent;
            }
        }
        let indent = self.indents.last().copied().unwrap_or(0);
        let mut indicators = 0usize;
        let block_depth =
            |indicators: usize, indents: usize| indents + indicators.saturating_sub(1);
        if block_depth(indicators, self.indents.len()) > self.max {
            return Err(());
        }
        while i < line.len() {
            let byte = line[i];
            let next_blank = line.get(i + 1).is_none_or(|b| b" \t".contains(b));
            let after_blank = i == 0 || b" \t".contains(&line[i - 1]);
            if self.flow > 0 {
                i += 1;
                match byte {
                    b'[' | b'{' => {
                        self.flow += 1;
                        if self.flow_base + self.flow > self.max {
                            return Err(());
                        }
                        node_start = true;
                    }
                    b']' | b'}' => {
                        self.flow = self.flow.saturating_sub(1);
                        node_start = false;
                    }
                    b',' => node_start = true,
                    b':' | b'?' if next_blank => node_start = true,
                    b'#' if after_blank => break,
                    b'"' | b'\'' if node_start => match close_quote(line, i, byte) {
                        Some(end) => (i, node_start) = (end, false),
                        None => {
                            self.quote = Some(byte);
                            break;
                        }
                    },
                    b' ' | b'\t' => {}
                    _ => node_start = false,
                }
                continue;
            }
            if byte == b' ' || byte == b'\t' {
                i += 1;
                continue;
            }
            if node_start {
                match byte {
                    b'#' => break,
                    b'-' | b'?' if next_blank => {
                        indicators += 1;
                        if block_depth(indicators, self.indents.len()) > self.max {
                            return Err(());
                        }
                        i += 1;
                        continue;
                    }
                    b'[' | b'{' => {
                        self.flow_base = block_depth(indicators, self.indents.len());
                        self.flow = 1;
                        if self.flow_base + 1 > self.max {
                            return Err(());
                        }
                        i += 1;
                        continue;
                    }
                    b'"' | b'\'' => {
                        match close_quote(line, i + 1, byte) {
                            Some(end) => i = end,
                            None => {
                                self.quote = Some(byte);
                                break;
                            }
                        }
                        node_start = false;
                        continue;
                    }
                    b'|' | b'>' => {
                        self.block = Some(indent);
                        break;
                    }
                    // Anchors and tags come before the node they name.
                    b'&' | b'!' => {
                        while i < line.len() && !b" \t".contains(&line[i]) {
                            i += 1;
                        }
                        continue;
                    }
                    _ => node_start = false,
                }
            }
            match byte {
                b':' if next_blank => {
                    indicators += 1;
                    if block_depth(indicators, self.indents.len()) > self.max {
                        return Err(());
                    }
                    node_start = true;
                }
                b'#' if after_blank => break,
                _ => {}
            }
            i += 1;
        }
        Ok(())
    }
}

/// The end (one past) of the quoted scalar whose body starts at `start`:
/// `\` escapes in double quotes, `''` in single ones.
fn close_quote(line: &[u8], start: usize, quote: u8) -> Option<usize> {
    let mut i = start;
    while i < line.len() {
        match line[i] {
            b'\\' if quote == b'"' => i += 2,
            b'\'' if quote == b'\'' && line.get(i + 1) == Some(&b'\'') => i += 2,
            byte if byte == quote => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: usize = 64;

    #[test]
    fn ordinary_documents_are_shallow() {
        let rule = r#"---
name: relay   # a comment with [[[[
pack: "demo"
enabled: true
description: >
  text with [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[
  and {{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{
trigger: {type: core.st2.webhook, parameters: {url: relay}}
criteria:
  trigger.body.n: {type: gt, pattern: 1}
action:
  ref: demo.echo
  parameters:
    message: hello {{ trigger.body.name }} [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[
    quoted: "{{ '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[' }}"
    single: 'it''s [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[['
    spans: "a [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[
      [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[ b"
    script: |
      [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[
      {{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{
    list:
      - - a
        - {b: [c, "]]]]", d]}
      - e
"#;
        assert_eq!(yaml(rule.as_bytes(), MAX), Ok(()));
        let json =
            r#"{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"["}"#;
        assert_eq!(super::json(json.as_bytes(), MAX), Ok(()));
        let toml = "name = \"x [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"\n\
                    [actions.echo.policy]\nretry = {count = 2, on = [\"failed\"]}\n\
                    text = \"\"\"\n[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\n\"\"\"\n\
                    # [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\n\
                    ratio = 1.5\n";
        assert_eq!(super::toml(toml.as_bytes(), MAX), Ok(()));
    }

    #[test]
    fn deep_documents_are_refused_at_their_line() {
        let flow = |open: &str, n: usize| format!("a: 1\nb: {}", open.repeat(n));
        assert_eq!(yaml(flow("[", 63).as_bytes(), MAX), Ok(()));
        assert_eq!(yaml(flow("[", 64).as_bytes(), MAX), Err(2));
        assert_eq!(yaml(flow("{a: ", 100).as_bytes(), MAX), Err(2));
        // Across lines, and unclosed.
        let lines = format!("a:\n{}", "  [\n".repeat(100));
        assert!(yaml(lines.as_bytes(), MAX).is_err());
        let dashes = format!("a:\n  {}x\n", "- ".repeat(100));
        assert_eq!(yaml(dashes.as_bytes(), MAX), Err(2));
        let keys: String = (0..100).map(|n| format!("{}k{n}:\n", " ".repeat(n))).collect();
        assert_eq!(yaml(keys.as_bytes(), MAX), Err(65));
        assert_eq!(json(&b"[".repeat(65), MAX), Err(1));
        assert_eq!(json(&b"[".repeat(64), MAX), Ok(()));
        assert_eq!(toml(format!("a = {}", "[".repeat(100)).as_bytes(), MAX), Err(1));
        assert_eq!(toml(format!("a = {}", "{b = ".repeat(100)).as_bytes(), MAX), Err(1));
        assert_eq!(toml(format!("x = 1\n[{}]", "a.".repeat(100)).as_bytes(), MAX), Err(2));
        assert_eq!(toml(format!("{} = 1", "a.".repeat(100)).as_bytes(), MAX), Err(1));
    }
}
