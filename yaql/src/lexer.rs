//! Tokens of a YAQL expression, as yaql's lexer cuts them: `$name`,
//! numbers, `name(` (a function call only when `(` follows the name
//! directly), bare names (keywords), three kinds of string literals and
//! the operators of yaql's default operator table.

use crate::error::{Error, Result};
use serde_json::Value;

/// One token and the 1-based character column it starts at.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub kind: Tok,
    pub column: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// A number or string literal, `true`, `false` or `null`.
    Literal(Value),
    /// A bare name that is no operator word: in YAQL it stands for itself.
    Keyword(String),
    /// `name(`: the start of a function call.
    Func(String),
    /// `$` (empty name), `$name`, `$1`.
    Dollar(String),
    /// An operator: `.`, `?.`, `+`, `-`, `*`, `/`, `mod`, `=~`, `!~`,
    /// comparisons, `in`, `not`, `and`, `or`, `->`, `=>`.
    Op(&'static str),
    LParen,
    RParen,
    LBracket,
    RBracket,
    LBrace,
    RBrace,
    Comma,
    End,
}

const OPERATORS: &[&str] =
    &["?.", "=~", "!~", ">=", "<=", "!=", "->", "=>", ".", "+", "-", "*", "/", ">", "<", "="];

const WORD_OPERATORS: &[&str] = &["mod", "in", "not", "and", "or"];

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The tokens of `source`, ending with [`Tok::End`].
pub(crate) fn tokenize(source: &str) -> Result<Vec<Token>> {
    let chars: Vec<char> = source.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let column = i + 1;
        if matches!(c, ' ' | '\t' | '\r' | '\n') {
            i += 1;
            continue;
        }
        let kind = if c == '$' {
            let start = i + 1;
            i = start;
            while i < chars.len() && is_word(chars[i]) {
                i += 1;
            }
            Tok::Dollar(chars[start..i].iter().collect())
        } else if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            let mut float = false;
            if i + 1 < chars.len() && chars[i] == '.' && chars[i + 1].is_ascii_digit() {
                float = true;
                i += 1;
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
            }
            if i < chars.len() && is_word(chars[i]) {
                return Err(Error::Lexical {
                    column,
                    message: format!("unexpected character `{}`", chars[i]),
                });
            }
            let text: String = chars[start..i].iter().collect();
            let number = if float {
                text.parse::<f64>().ok().and_then(serde_json::Number::from_f64)
            } else {
                text.parse::<i64>().ok().map(serde_json::Number::from)
            };
            let Some(number) = number else {
                return Err(Error::Lexical {
                    column,
                    message: format!("number `{text}` too large"),
                });
            };
            Tok::Literal(Value::Number(number))
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && is_word(chars[i]) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            if chars.get(i) == Some(&'(') {
                i += 1;
                Tok::Func(word)
            } else if word.starts_with("__") {
                return Err(Error::Lexical {
                    column,
                    message: format!("names may not start with `__`: `{word}`"),
                });
            } else if let Some(op) = WORD_OPERATORS.iter().find(|op| **op == word) {
                Tok::Op(op)
            } else {
                match word.as_str() {
                    "true" => Tok::Literal(Value::Bool(true)),
                    "false" => Tok::Literal(Value::Bool(false)),
                    "null" => Tok::Literal(Value::Null),
                    _ => Tok::Keyword(word),
                }
            }
        } else if matches!(c, '\'' | '"' | '`') {
            let start = i + 1;
            i = start;
            while i < chars.len() && chars[i] != c {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            if i >= chars.len() {
                return Err(Error::Lexical {
                    column,
                    message: "a string without its closing quote".into(),
                });
            }
            let raw: String = chars[start..i].iter().collect();
            i += 1;
            let text = if c == '`' { raw.replace("\\`", "`") } else { decode_escapes(&raw) };
            Tok::Literal(Value::String(text))
        } else {
            let rest: String = chars[i..chars.len().min(i + 2)].iter().collect();
            if let Some(op) = OPERATORS.iter().find(|op| rest.starts_with(**op)) {
                i += op.chars().count();
                Tok::Op(op)
            } else {
                i += 1;
                match c {
                    '(' => Tok::LParen,
                    ')' => Tok::RParen,
                    '[' => Tok::LBracket,
                    ']' => Tok::RBracket,
                    '{' => Tok::LBrace,
                    '}' => Tok::RBrace,
                    ',' => Tok::Comma,
                    _ => {
                        return Err(Error::Lexical {
                            column,
                            message: format!("unexpected character `{c}`"),
                        });
                    }
                }
            }
        };
        tokens.push(Token { kind, column });
    }
    tokens.push(Token { kind: Tok::End, column: chars.len() + 1 });
    Ok(tokens)
}

/// Python's escape sequences in a quoted string: `\n`, `\t`, `\\`, `\'`,
/// `\"`, `\a`, `\b`, `\f`, `\r`, `\v`, octal `\NNN`, `\xHH`, `\uHHHH`,
/// `\UHHHHHHHH`. Any other backslash stays as written (so `'\d+'` is the
/// regular expression `\d+`, as in yaql).
fn decode_escapes(raw: &str) -> String {
    let chars: Vec<char> = raw.chars().collect();
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '\\' || i + 1 >= chars.len() {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let next = chars[i + 1];
        let simple = match next {
            '\\' => Some('\\'),
            '\'' => Some('\''),
            '"' => Some('"'),
            'a' => Some('\u{7}'),
            'b' => Some('\u{8}'),
            'f' => Some('\u{c}'),
            'n' => Some('\n'),
            'r' => Some('\r'),
            't' => Some('\t'),
            'v' => Some('\u{b}'),
            _ => None,
        };
        if let Some(decoded) = simple {
            out.push(decoded);
            i += 2;
            continue;
        }
        let hex_len = match next {
            'x' => 2,
            'u' => 4,
            'U' => 8,
            _ => 0,
        };
        if hex_len > 0 {
            let digits: String = chars[i + 2..chars.len().min(i + 2 + hex_len)].iter().collect();
            if digits.chars().count() == hex_len
                && let Some(decoded) =
                    u32::from_str_radix(&digits, 16).ok().and_then(char::from_u32)
            {
                out.push(decoded);
                i += 2 + hex_len;
                continue;
            }
        }
        if next.is_digit(8) {
            let mut end = i + 1;
            while end < chars.len() && end < i + 4 && chars[end].is_digit(8) {
                end += 1;
            }
            let digits: String = chars[i + 1..end].iter().collect();
            if let Some(decoded) = u32::from_str_radix(&digits, 8).ok().and_then(char::from_u32) {
                out.push(decoded);
                i = end;
                continue;
            }
        }
        out.push('\\');
        i += 1;
    }
    out
}
