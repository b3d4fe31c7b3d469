//! `<% … %>` inside text, evaluated the way Orquesta does it.
//!
//! - An expression is `<%` up to the nearest `%>` on the same line
//!   (Orquesta's pattern `<%.*?%>` does not cross line breaks).
//! - Text that is exactly one expression takes the expression's value with
//!   its type; text with several expressions, or with anything around the
//!   one (even a space), renders to a string, each value printed the way
//!   Python's `str()` prints it (`None`, `True`, `['a', 1]`, `{'k': 'v'}`).
//! - A string value is itself rendered again (so an expression that yields
//!   text with `<% %>` in it is evaluated too), to a depth of
//!   [`MAX_RENDER_DEPTH`].

use serde_json::Value;

use crate::error::Error;
use crate::host::Host;
use crate::{Expression, Limits};

/// How deep string results are rendered again.
pub const MAX_RENDER_DEPTH: usize = 16;

/// One `<% … %>` in a text: its byte range (delimiters included) and the
/// expression inside, trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span<'a> {
    pub start: usize,
    pub end: usize,
    pub text: &'a str,
    pub expression: &'a str,
}

/// An expression in a text that failed: the expression as written
/// (delimiters included) and the error.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("`{text}`: {error}")]
pub struct TemplateError {
    pub text: String,
    pub error: Error,
}

/// Every `<% … %>` in `text`, in order.
pub fn spans(text: &str) -> Vec<Span<'_>> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(open) = text[from..].find("<%") {
        let start = from + open;
        let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
        match text[start + 2..line_end].find("%>") {
            Some(close) => {
                let end = start + 2 + close + 2;
                let whole = &text[start..end];
                out.push(Span { start, end, text: whole, expression: strip_delimiters(whole) });
                from = end;
            }
            None => from = start + 2,
        }
    }
    out
}

/// Python's `text.strip("<%>").strip()`, as Orquesta strips an expression.
fn strip_delimiters(text: &str) -> &str {
    text.trim_matches(|c| matches!(c, '<' | '%' | '>')).trim()
}

/// Whether `text` holds a `<% … %>` expression.
pub fn has_expressions(text: &str) -> bool {
    !spans(text).is_empty()
}

/// Parses every expression of `text`; the errors, one per failing expression.
pub fn validate(text: &str) -> Vec<TemplateError> {
    spans(text)
        .into_iter()
        .filter_map(|span| {
            Expression::parse(span.expression)
                .err()
                .map(|error| TemplateError { text: span.text.to_owned(), error })
        })
        .collect()
}

/// Evaluates the expressions of `text` with `data` as `$`: the typed value
/// of a lone expression, the rendered string otherwise, `text` itself when
/// it has no expression.
pub fn render(
    text: &str,
    data: &Value,
    host: &dyn Host,
    limits: &Limits,
) -> Result<Value, TemplateError> {
    render_at(text, data, host, limits, 0)
}

fn render_at(
    text: &str,
    data: &Value,
    host: &dyn Host,
    limits: &Limits,
    depth: usize,
) -> Result<Value, TemplateError> {
    let spans = spans(text);
    if spans.is_empty() {
        return Ok(Value::String(text.to_owned()));
    }
    let mut output = Value::String(text.to_owned());
    let count = spans.len();
    for span in spans {
        let fail = |error: Error| TemplateError { text: span.text.to_owned(), error };
        if depth >= MAX_RENDER_DEPTH {
            return Err(fail(Error::SizeLimit {
                column: 1,
                what: "the depth of rendering string results again".into(),
                limit: MAX_RENDER_DEPTH,
            }));
        }
        let expression = Expression::parse(span.expression).map_err(fail)?;
        let value = expression.evaluate_val(data, host, limits).map_err(fail)?;
        // A datetime or timespan prints as Python's `str()` inside text
        // and is not rendered again (it is no string to Orquesta).
        let text_form = value.text_form();
        let mut result = value.into_value().map_err(|other| {
            fail(Error::Argument {
                column: expression.tree.column,
                function: "expression".into(),
                message: format!("the value is {}, not data", other.describe()),
            })
        })?;
        if let (Value::String(s), None) = (&result, &text_form) {
            result = render_at(s, data, host, limits, depth + 1)?;
        }
        let current = match &output {
            Value::String(s) => s.clone(),
            other => crate::value::render_str(other),
        };
        if count > 1 || current.len() > span.text.len() {
            let piece = text_form.unwrap_or_else(|| crate::value::render_str(&result));
            let rendered = current.replace(span.text, &piece);
            if rendered.len() > limits.string {
                return Err(fail(Error::SizeLimit {
                    column: 1,
                    what: format!("a string of {} bytes", rendered.len()),
                    limit: limits.string,
                }));
            }
            output = Value::String(rendered);
        } else {
            output = result;
        }
    }
    Ok(output)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NoHost;
    use serde_json::json;

    #[test]
    fn spans_stop_at_line_ends_and_strip_delimiters() {
        let text = "a <% 1 %> b <%x\n%> c <%% 2 %%>";
        let found: Vec<_> = spans(text).into_iter().map(|s| (s.text, s.expression)).collect();
        assert_eq!(found, [("<% 1 %>", "1"), ("<%% 2 %%>", "2")]);
        assert!(!has_expressions("<% 1\n %>"));
        assert!(has_expressions("x <%%>"));
    }

    #[test]
    fn multi_line_text_renders_each_line() {
        let limits = Limits::default();
        let got = render("a=<% 1 %>\nb=<% 'x' %>", &json!(null), &NoHost, &limits);
        assert_eq!(got, Ok(json!("a=1\nb=x")));
    }

    #[test]
    fn validate_reports_each_bad_expression() {
        let errors = validate("<% 1 + %> ok <% [ %> <% 2 %>");
        let texts: Vec<_> = errors.iter().map(|e| e.text.as_str()).collect();
        assert_eq!(texts, ["<% 1 + %>", "<% [ %>"]);
        assert_eq!(
            errors[0].to_string(),
            "`<% 1 + %>`: column 4: syntax error: unexpected end of the expression"
        );
    }

    #[test]
    fn rendering_again_is_bounded() {
        let data = json!({"loop": "<% $.loop %>"});
        let got = render("<% $.loop %>", &data, &NoHost, &Limits::default());
        assert!(
            matches!(got, Err(TemplateError { error: Error::SizeLimit { .. }, .. })),
            "{got:?}"
        );
    }
}
