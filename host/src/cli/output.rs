//! What the client commands print: aligned tables and `key: value`
//! listings for people, the server's JSON for `--json`, and the helpers
//! that read fields of the server's JSON for them.

use std::io::Write;

use serde_json::Value;

/// `text` on one line, runs of whitespace made one space.
pub(crate) fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Prints the server's JSON, pretty.
pub(crate) fn print_json(out: &mut dyn Write, value: &Value) -> anyhow::Result<()> {
    writeln!(out, "{}", serde_json::to_string_pretty(value)?)?;
    Ok(())
}

/// A table for people: a header row and aligned columns, two spaces apart.
#[derive(Debug)]
pub(crate) struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

/// Longest text a table cell shows.
const CELL_MAX: usize = 60;

impl Table {
    pub(crate) fn new(headers: &[&'static str]) -> Self {
        Self { headers: headers.to_vec(), rows: Vec::new() }
    }

    /// Adds a row; cells are put on one line and cut at 60 characters.
    pub(crate) fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells.iter().map(|c| cell(c)).collect());
    }

    /// Prints it, or `none` (e.g. `no rules`) when it has no rows.
    pub(crate) fn print(&self, out: &mut dyn Write, none: &str) -> anyhow::Result<()> {
        if self.rows.is_empty() {
            writeln!(out, "{none}")?;
            return Ok(());
        }
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let headers: Vec<String> = self.headers.iter().map(|h| (*h).to_owned()).collect();
        for row in std::iter::once(&headers).chain(&self.rows) {
            let mut line = String::new();
            for (i, (cell, width)) in row.iter().zip(&widths).enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                line.push_str(cell);
                let pad = width - cell.chars().count();
                line.extend(std::iter::repeat_n(' ', pad));
            }
            writeln!(out, "{}", line.trim_end())?;
        }
        Ok(())
    }
}

fn cell(text: &str) -> String {
    let line = one_line(text);
    match line.char_indices().nth(CELL_MAX - 1) {
        Some((at, _)) if line.chars().count() > CELL_MAX => format!("{}…", &line[..at]),
        _ => line,
    }
}

/// `key: value` lines for people, the values aligned; a value over several
/// lines starts on its own line, indented.
#[derive(Debug, Default)]
pub(crate) struct Fields {
    fields: Vec<(&'static str, String)>,
}

impl Fields {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn add(&mut self, name: &'static str, value: impl Into<String>) -> &mut Self {
        self.fields.push((name, value.into()));
        self
    }

    /// Adds `value` if there is one.
    pub(crate) fn opt(&mut self, name: &'static str, value: Option<String>) -> &mut Self {
        if let Some(value) = value {
            self.fields.push((name, value));
        }
        self
    }

    pub(crate) fn print(&self, out: &mut dyn Write) -> anyhow::Result<()> {
        let width = self.fields.iter().map(|(name, _)| name.len() + 1).max().unwrap_or(0);
        for (name, value) in &self.fields {
            if value.contains('\n') {
                writeln!(out, "{name}:")?;
                for line in value.lines() {
                    writeln!(out, "  {line}")?;
                }
            } else {
                let label = format!("{name}:");
                writeln!(out, "{label:width$} {value}")?;
            }
        }
        Ok(())
    }
}

/// A string field of a JSON object, or `""`.
pub(crate) fn text(value: &Value, field: &str) -> String {
    match value.get(field) {
        Some(Value::String(s)) => s.clone(),
        None | Some(Value::Null) => String::new(),
        Some(other) => other.to_string(),
    }
}

/// An optional field as text: `None` when absent or null.
pub(crate) fn opt_text(value: &Value, field: &str) -> Option<String> {
    match value.get(field)? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// A JSON value for people: compact when short, pretty over several lines
/// otherwise; a string as itself.
pub(crate) fn show(value: &Value) -> String {
    if let Value::String(s) = value {
        return s.clone();
    }
    let compact = value.to_string();
    if compact.chars().count() <= CELL_MAX {
        compact
    } else {
        serde_json::to_string_pretty(value).unwrap_or(compact)
    }
}

/// An RFC 3339 time from the server, to the second, in UTC: fixed width.
pub(crate) fn time(value: &Value, field: &str) -> String {
    opt_time(value, field).unwrap_or_default()
}

/// Like [`time`], `None` when absent.
pub(crate) fn opt_time(value: &Value, field: &str) -> Option<String> {
    let raw = value.get(field)?.as_str()?;
    Some(match raw.parse::<jiff::Timestamp>() {
        Ok(at) => at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        Err(_) => raw.to_owned(),
    })
}

/// How long between two RFC 3339 times of `value`, e.g. `1.25s`.
pub(crate) fn took(value: &Value, from: &str, to: &str) -> Option<String> {
    let at = |field| value.get(field)?.as_str()?.parse::<jiff::Timestamp>().ok();
    let millis = at(to)?.as_millisecond() - at(from)?.as_millisecond();
    Some(if millis < 1000 {
        format!("{millis}ms")
    } else {
        format!("{:.2}s", millis as f64 / 1000.0)
    })
}

/// The items of a JSON array answer.
pub(crate) fn items(value: &Value) -> &[Value] {
    value.as_array().map_or(&[], Vec::as_slice)
}

/// Says on stderr that a list shows only part of what matched.
pub(crate) fn note_partial(
    stderr: &mut dyn Write,
    shown: usize,
    answer: &super::client::Answer,
    what: &str,
) -> anyhow::Result<()> {
    if let Some(next) = answer.next_offset {
        // "1 execution shown", "1 of 5 executions shown".
        let (of, what) = match answer.total {
            Some(total) => (format!(" of {total}"), what),
            None if shown == 1 => (String::new(), what.strip_suffix('s').unwrap_or(what)),
            None => (String::new(), what),
        };
        writeln!(
            stderr,
            "note: {shown}{of} {what} shown, newest first; more match: --offset {next} shows the next page"
        )?;
    } else if let Some(total) = answer.total
        && total > shown
    {
        writeln!(
            stderr,
            "note: {shown} of {total} {what} shown, newest first; --limit N shows more"
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns_and_cut_long_cells() {
        let mut table = Table::new(&["NAME", "VALUE"]);
        table.row(vec!["a".into(), "1".into()]);
        table.row(vec!["longer".into(), "x\ny".into()]);
        table.row(vec!["long".into(), "z".repeat(70)]);
        let mut out = Vec::new();
        table.print(&mut out, "none").expect("ok");
        let expected =
            format!("NAME    VALUE\na       1\nlonger  x y\nlong    {}…\n", "z".repeat(59));
        assert_eq!(String::from_utf8(out).expect("ok"), expected);
        let mut out = Vec::new();
        Table::new(&["A"]).print(&mut out, "no rows").expect("ok");
        assert_eq!(String::from_utf8(out).expect("ok"), "no rows\n");
    }

    #[test]
    fn fields_align_and_indent_long_values() {
        let mut out = Vec::new();
        Fields::new()
            .add("id", "1")
            .add("status", "ok")
            .add("result", "{\n  \"a\": 1\n}")
            .print(&mut out)
            .expect("ok");
        assert_eq!(
            String::from_utf8(out).expect("ok"),
            "id:     1\nstatus: ok\nresult:\n  {\n    \"a\": 1\n  }\n"
        );
    }
}
