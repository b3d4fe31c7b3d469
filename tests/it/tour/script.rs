//! A document's shell examples as steps: which blocks run, which are files
//! to write first, which are skipped and why, and what each command is
//! shown to print. Pure text in, steps out; `mod.rs` runs them.
//!
//! The conventions a document follows (they are HTML comments, so a reader
//! of the rendered page does not see them):
//!
//! - Every ```` ```sh ```` block runs, in order, in one shell, unless the
//!   line before it is `<!-- tour: skip REASON -->` (a reason is required).
//! - `<!-- tour: file PATH -->` before a block of any language writes the
//!   block to PATH (relative to the shell's directory at that point).
//! - `<!-- tour: server -->` starts `squall serve` at that point, for a
//!   document that assumes one is running.
//! - `<!-- tour: registry -->`: the document pushes to and installs from
//!   an OCI registry at `127.0.0.1:5000`; the tour starts a real one
//!   (`docker-registry`) and points that address at it.
//! - `<!-- tour: variants A | B | C -->` runs the whole document once per
//!   variant, with the text A in its shell blocks replaced by B, then C.
//! - In a shell block, `#> TEXT` (at the end of a command's line, or on
//!   lines of its own after it) is a line the command prints; `…` stands
//!   for any text. `#> (exit status N)` is its exit status; a command
//!   shown with none must exit 0. Plain `# comments` are not checked.

use std::fmt;

/// One thing the tour does, in document order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Writes `content` to `path`.
    File { line: usize, path: String, content: String },
    /// Starts `squall serve` in the background and waits for it.
    Server { line: usize },
    /// A shell block's commands.
    Run { line: usize, commands: Vec<Command> },
    /// A shell block that is not run, and why.
    Skip { line: usize, reason: String },
}

/// One shell command of a block (possibly several lines: continuations,
/// pipes, here-documents).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// The document line it starts on (1-based).
    pub line: usize,
    pub text: String,
    /// Lines it must print, in order (`…` matches any text).
    pub prints: Vec<String>,
    pub status: i32,
}

impl Command {
    /// Whether it starts `squall serve` in the background (the tour then
    /// waits until the server answers).
    pub fn starts_server(&self) -> bool {
        let last = self.text.lines().last().unwrap_or_default();
        self.text.contains("squall serve") && code(last).ends_with('&')
    }
}

/// A document's steps and the variants it is run in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tour {
    pub steps: Vec<Step>,
    /// Empty, or the texts that replace `variants[0]` run by run.
    pub variants: Vec<String>,
    /// Whether the document needs an OCI registry.
    pub registry: bool,
}

/// A convention broken: the file line and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TourError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for TourError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

const DIRECTIVE: &str = "<!-- tour:";
const EXIT: &str = "(exit status ";

/// Reads a Markdown document's tour.
pub fn parse(markdown: &str) -> Result<Tour, TourError> {
    let lines: Vec<&str> = markdown.lines().collect();
    let mut tour = Tour { steps: Vec::new(), variants: Vec::new(), registry: false };
    let mut pending: Option<(usize, Pending)> = None;
    let mut i = 0;
    while i < lines.len() {
        let line_no = i + 1;
        let trimmed = lines[i].trim();
        if let Some(rest) = trimmed.strip_prefix(DIRECTIVE) {
            let body = rest.strip_suffix("-->").map(str::trim).ok_or_else(|| TourError {
                line: line_no,
                message: "a tour directive must end with `-->` on the same line".into(),
            })?;
            match directive(body, line_no)? {
                Directive::Server => tour.steps.push(Step::Server { line: line_no }),
                Directive::Registry => tour.registry = true,
                Directive::Variants(list) => {
                    if !tour.variants.is_empty() {
                        return Err(TourError {
                            line: line_no,
                            message: "a document has one `tour: variants`".into(),
                        });
                    }
                    tour.variants = list;
                }
                Directive::Next(next) => {
                    if let Some((at, _)) = pending {
                        return Err(TourError {
                            line: line_no,
                            message: format!(
                                "the directive on line {at} has no block before this one"
                            ),
                        });
                    }
                    pending = Some((line_no, next));
                }
            }
            i += 1;
            continue;
        }
        let Some(info) = trimmed.strip_prefix("```") else {
            if !trimmed.is_empty()
                && let Some((at, _)) = pending
            {
                return Err(TourError {
                    line: at,
                    message: "a `skip` or `file` directive must come right before a fenced block"
                        .into(),
                });
            }
            i += 1;
            continue;
        };
        let fence_indent = lines[i].len() - lines[i].trim_start().len();
        let start = i + 1;
        let mut end = start;
        while end < lines.len() && lines[end].trim() != "```" {
            end += 1;
        }
        if end == lines.len() {
            return Err(TourError {
                line: line_no,
                message: "a fenced block is never closed".into(),
            });
        }
        let body: Vec<&str> = lines[start..end]
            .iter()
            .map(|l| l.get(fence_indent..).unwrap_or(l.trim_start()))
            .collect();
        let shell = matches!(info.trim(), "sh" | "bash" | "shell");
        match pending.take() {
            Some((_, Pending::Skip(reason))) => {
                tour.steps.push(Step::Skip { line: line_no, reason });
            }
            Some((_, Pending::File(path))) => {
                let mut content = body.join("\n");
                content.push('\n');
                tour.steps.push(Step::File { line: line_no, path, content });
            }
            None if shell => {
                let commands = commands(&body, start + 1)?;
                tour.steps.push(Step::Run { line: line_no, commands });
            }
            None => {}
        }
        i = end + 1;
    }
    if let Some((at, _)) = pending {
        return Err(TourError { line: at, message: "a directive with no block after it".into() });
    }
    Ok(tour)
}

enum Directive {
    Server,
    Registry,
    Variants(Vec<String>),
    Next(Pending),
}

enum Pending {
    Skip(String),
    File(String),
}

fn directive(body: &str, line: usize) -> Result<Directive, TourError> {
    let (word, rest) = body.split_once(' ').map_or((body, ""), |(w, r)| (w, r.trim()));
    let fail = |message: &str| Err(TourError { line, message: message.to_owned() });
    match word {
        "server" if rest.is_empty() => Ok(Directive::Server),
        "registry" if rest.is_empty() => Ok(Directive::Registry),
        "skip" if rest.is_empty() => fail("`tour: skip` needs a reason: why the block cannot run"),
        "skip" => Ok(Directive::Next(Pending::Skip(rest.to_owned()))),
        "file" if rest.is_empty() || rest.contains(' ') => fail("`tour: file` takes one path"),
        "file" => Ok(Directive::Next(Pending::File(rest.to_owned()))),
        "variants" => {
            let list: Vec<String> = rest.split('|').map(|v| v.trim().to_owned()).collect();
            if list.len() < 2 || list.iter().any(String::is_empty) {
                return fail("`tour: variants` takes two or more texts separated by `|`");
            }
            Ok(Directive::Variants(list))
        }
        _ => fail(
            "expected `tour: skip REASON`, `tour: file PATH`, `tour: server`, `tour: registry` or `tour: variants A | B`",
        ),
    }
}

/// Splits a block into commands and reads what each is shown to print.
fn commands(body: &[&str], first_line: usize) -> Result<Vec<Command>, TourError> {
    let mut out: Vec<Command> = Vec::new();
    let mut i = 0;
    while i < body.len() {
        let line_no = first_line + i;
        let raw = body[i];
        let trimmed = raw.trim();
        if let Some(shown) = trimmed.strip_prefix("#>") {
            let Some(last) = out.last_mut() else {
                return Err(TourError { line: line_no, message: "`#>` before any command".into() });
            };
            shown_line(last, shown.trim(), line_no)?;
            i += 1;
            continue;
        }
        if trimmed.is_empty() || trimmed.starts_with('#') {
            i += 1;
            continue;
        }
        let mut text = vec![raw.to_owned()];
        let mut here_doc = here_doc_end(raw);
        i += 1;
        loop {
            let last = text.last().expect("one line at least");
            if let Some(end) = &here_doc {
                if i >= body.len() {
                    return Err(TourError {
                        line: line_no,
                        message: format!("the here-document never ends (no `{end}` line)"),
                    });
                }
                let next = body[i];
                text.push(next.to_owned());
                i += 1;
                if next.trim() == end {
                    here_doc = None;
                    if !continues(next) {
                        break;
                    }
                }
                continue;
            }
            if !continues(code(last)) || i >= body.len() {
                break;
            }
            let next = body[i];
            here_doc = here_doc_end(next);
            text.push(next.to_owned());
            i += 1;
        }
        let mut command =
            Command { line: line_no, text: text.join("\n"), prints: Vec::new(), status: 0 };
        if here_doc.is_none()
            && let Some(last) = text.last()
            && let Some((_, shown)) = last.split_once(" #>")
        {
            shown_line(&mut command, shown.trim(), line_no + text.len() - 1)?;
        }
        out.push(command);
    }
    Ok(out)
}

fn shown_line(command: &mut Command, shown: &str, line: usize) -> Result<(), TourError> {
    if let Some(status) = shown.strip_prefix(EXIT) {
        command.status =
            status.strip_suffix(')').and_then(|s| s.parse().ok()).ok_or_else(|| TourError {
                line,
                message: "expected `#> (exit status N)` with a number N".into(),
            })?;
    } else if !shown.is_empty() {
        command.prints.push(shown.to_owned());
    }
    Ok(())
}

/// The line without a trailing comment (a `#` after a blank, outside
/// quotes: good enough for the documents' commands).
fn code(line: &str) -> &str {
    let mut quote = None;
    let mut previous = ' ';
    for (at, c) in line.char_indices() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), _) if c == q => quote = None,
            (None, '#') if previous.is_whitespace() => return line[..at].trim_end(),
            _ => {}
        }
        previous = c;
    }
    line.trim_end()
}

/// Whether a command goes on past this line.
fn continues(line: &str) -> bool {
    let code = code(line);
    code.ends_with('\\') || code.ends_with('|') || code.ends_with("&&") || code.ends_with("||")
}

/// The word that ends a here-document this line opens.
fn here_doc_end(line: &str) -> Option<String> {
    let code = code(line);
    let at = code.find("<<")?;
    let rest = code[at + 2..].trim_start_matches('-').trim_start();
    let word: String = rest
        .trim_start_matches(['\'', '"'])
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    (!word.is_empty()).then_some(word)
}

/// Whether `actual` (a program's output) shows every line of `expected`
/// in order; `…` in an expected line matches any text. The first line not
/// found, if any.
pub fn first_missing<'a>(expected: &'a [String], actual: &str) -> Option<&'a str> {
    let mut lines = actual.lines().map(str::trim);
    'expected: for want in expected {
        for got in lines.by_ref() {
            if wildcard_match(want.trim(), got) {
                continue 'expected;
            }
        }
        return Some(want);
    }
    None
}

fn wildcard_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('…').collect();
    let (first, rest) = parts.split_first().expect("split gives one part at least");
    let Some(mut text) = text.strip_prefix(first) else { return false };
    let Some((last, middle)) = rest.split_last() else { return text.is_empty() };
    for part in middle {
        match text.find(part) {
            Some(at) => text = &text[at + part.len()..],
            None => return false,
        }
    }
    text.ends_with(last)
}

impl fmt::Display for Tour {
    /// The steps as the fixtures show them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.variants.is_empty() {
            writeln!(f, "variants: {}", self.variants.join(" | "))?;
        }
        if self.registry {
            writeln!(f, "registry")?;
        }
        for step in &self.steps {
            match step {
                Step::File { line, path, content } => {
                    writeln!(f, "{line}: file {path} ({} lines)", content.lines().count())?
                }
                Step::Server { line } => writeln!(f, "{line}: server")?,
                Step::Skip { line, reason } => writeln!(f, "{line}: skip: {reason}")?,
                Step::Run { line, commands } => {
                    writeln!(f, "{line}: run")?;
                    for c in commands {
                        writeln!(f, "  {}: {}", c.line, c.text.replace('\n', "⏎"))?;
                        for p in &c.prints {
                            writeln!(f, "    prints {p}")?;
                        }
                        if c.status != 0 {
                            writeln!(f, "    exit status {}", c.status)?;
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_any_text_in_order() {
        assert!(wildcard_match("a…c", "abbbc"));
        assert!(wildcard_match("{\"id\":\"…\"}", "{\"id\":\"0197\"}"));
        assert!(!wildcard_match("a…c", "abbbd"));
        assert!(!wildcard_match("exact", "exactly"));
        assert!(wildcard_match("…", "anything"));
        let expected = vec!["one".to_owned(), "th…".to_owned()];
        assert_eq!(first_missing(&expected, "zero\none\ntwo\nthree\n"), None);
        assert_eq!(first_missing(&expected, "three\none\n"), Some("th…"));
    }
}
