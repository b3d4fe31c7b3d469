//! Python's `re` for the regex operators (look-around and backreferences
//! included): a pattern is rewritten into `fancy-regex`'s dialect by
//! [`translate`], and searched with a bound on backtracking
//! ([`REGEX_BACKTRACK_LIMIT`]) and on the text a backtracking pattern is
//! searched in ([`REGEX_BACKTRACKING_TEXT_BYTES`]).

use fancy_regex::Regex;

/// The most backtracking steps one regex search may take. Past it the
/// search gives up and the criterion does not hold: a pattern that
/// backtracks catastrophically (`(a+)+\1b`) fails rather than hangs.
/// Patterns without look-around or backreferences never backtrack (they
/// run on the `regex` crate's automata, in linear time).
pub const REGEX_BACKTRACK_LIMIT: usize = 1_000_000;

/// The longest string (in UTF-8 bytes) that a pattern with look-around,
/// backreferences, atomic groups or possessive quantifiers is searched in.
/// Such a pattern runs on a backtracking engine whose look-around rescans
/// the text from every position it is tried at (`(?=.*x)` is quadratic in
/// the text, nested ones worse), work that [`REGEX_BACKTRACK_LIMIT`] does
/// not count; over this length the search gives up and the criterion does
/// not hold.
pub const REGEX_BACKTRACKING_TEXT_BYTES: usize = 32 * 1024;

/// A compiled regex operator pattern.
#[derive(Debug)]
pub(crate) struct PyRegex {
    pub(super) regex: Regex,
    /// Whether the pattern needs the backtracking engine (look-around,
    /// backreferences, atomic groups, possessive quantifiers).
    pub(super) backtracking: bool,
}

/// Why a regex operator did not give an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RegexFailure {
    /// What Python would raise on (a non-string, an invalid pattern).
    Raised,
    /// The search gave up: over [`REGEX_BACKTRACK_LIMIT`] or
    /// [`REGEX_BACKTRACKING_TEXT_BYTES`]. Says which.
    GaveUp(String),
}

impl PyRegex {
    /// Whether the pattern is found in `text`, as the operator defines it.
    pub(crate) fn is_match(&self, text: &str) -> Result<bool, RegexFailure> {
        if self.backtracking && text.len() > REGEX_BACKTRACKING_TEXT_BYTES {
            return Err(RegexFailure::GaveUp(format!(
                "the value is {} bytes long; a pattern with look-around or backreferences is \
                 searched in at most {REGEX_BACKTRACKING_TEXT_BYTES}",
                text.len()
            )));
        }
        self.regex.is_match(text).map_err(|e| match e {
            fancy_regex::Error::RuntimeError(fancy_regex::RuntimeError::BacktrackLimitExceeded) => {
                RegexFailure::GaveUp(format!(
                    "the search took over {REGEX_BACKTRACK_LIMIT} backtracking steps"
                ))
            }
            other => RegexFailure::GaveUp(format!("the search failed: {other}")),
        })
    }
}

/// Python `re` flags that `fancy-regex` is told about for a whole pattern.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Flags {
    pub(super) ignorecase: bool,
    pub(super) multiline: bool,
    pub(super) dotall: bool,
    pub(super) verbose: bool,
}

/// A Python pattern rewritten into `fancy-regex`'s dialect.
#[derive(Debug)]
pub(super) struct Translation {
    pub(super) source: String,
    /// The global flags (`(?ims)`), set on the builder rather than inline.
    pub(super) flags: Flags,
    pub(super) backtracking: bool,
}

/// Rewrites a Python `re` pattern into `fancy-regex`'s syntax with the same
/// meaning, or says why Python would refuse it (or why Squall cannot take
/// it). What differs between the dialects:
///
/// - `$` without `MULTILINE` also matches before a final newline, and `\Z`
///   is the very end of the string;
/// - `{` that does not start a valid `{m}`, `{m,}`, `{,n}`, `{m,n}` is a
///   literal, as is a lone `}` or `]`;
/// - in a character set, `[`, `&&`, `~~` and `--` have no special meaning,
///   `\b` is a backspace, and `]` first is a literal;
/// - `\1`..`\99` are backreferences, `\0` and three octal digits are octal
///   escapes; `(?P=name)` is a named backreference;
/// - global flags (`(?imsx)`) apply to the whole pattern wherever they
///   stand (Python before 3.11); verbose mode (`x`) is handled here, as
///   Python's keeps whitespace inside sets;
/// - `(?#...)` is a comment; an unknown escape of a letter is an error.
///
/// Not supported: `(?a)`/`(?L)` (ASCII and locale matching) and `\N{...}`.
pub(super) fn translate(pattern: &str) -> Result<Translation, String> {
    // Global flags may stand anywhere and apply everywhere: a first pass
    // finds them, a second translates knowing them.
    let first = Translator::new(pattern, Flags::default()).run()?;
    if first.flags == Flags::default() {
        return Ok(first);
    }
    Translator::new(pattern, first.flags).run()
}

struct Translator {
    chars: Vec<char>,
    i: usize,
    out: String,
    /// Global flags seen in this pass.
    found: Flags,
    multiline: bool,
    verbose: bool,
    /// For each open group, the `multiline` and `verbose` to restore when
    /// it closes.
    groups: Vec<(bool, bool)>,
    backtracking: bool,
}

impl Translator {
    /// `global`: the flags of the whole pattern, known from a first pass.
    fn new(pattern: &str, global: Flags) -> Self {
        Translator {
            chars: pattern.chars().collect(),
            i: 0,
            out: String::with_capacity(pattern.len() + 8),
            found: Flags::default(),
            multiline: global.multiline,
            verbose: global.verbose,
            groups: Vec::new(),
            backtracking: false,
        }
    }

    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.i + ahead).copied()
    }

    fn run(mut self) -> Result<Translation, String> {
        while let Some(c) = self.peek(0) {
            if self.verbose && c.is_whitespace() {
                self.i += 1;
                continue;
            }
            if self.verbose && c == '#' {
                while self.peek(0).is_some_and(|c| c != '\n') {
                    self.i += 1;
                }
                continue;
            }
            match c {
                '\\' => self.escape()?,
                '[' => self.set()?,
                '(' => self.group()?,
                ')' => {
                    let (multiline, verbose) = self.groups.pop().ok_or("unbalanced parenthesis")?;
                    self.multiline = multiline;
                    self.verbose = verbose;
                    self.out.push(')');
                    self.i += 1;
                }
                '$' => {
                    self.out.push_str(if self.multiline { "$" } else { r"(?=\n?\z)" });
                    self.i += 1;
                }
                '{' => {
                    if !self.repeat() {
                        self.out.push_str(r"\{");
                        self.i += 1;
                    }
                }
                '}' | ']' => {
                    self.out.push('\\');
                    self.out.push(c);
                    self.i += 1;
                }
                '*' | '+' | '?' => {
                    self.out.push(c);
                    self.i += 1;
                    self.quantifier_suffix();
                }
                _ => {
                    self.out.push(c);
                    self.i += 1;
                }
            }
        }
        if !self.groups.is_empty() {
            return Err("missing ), unterminated subpattern".to_owned());
        }
        Ok(Translation { source: self.out, flags: self.found, backtracking: self.backtracking })
    }

    /// After a quantifier: `?` makes it lazy, `+` possessive (Python 3.11).
    fn quantifier_suffix(&mut self) {
        match self.peek(0) {
            Some('?') => {
                self.out.push('?');
                self.i += 1;
            }
            Some('+') => {
                self.out.push('+');
                self.i += 1;
                self.backtracking = true;
            }
            _ => {}
        }
    }

    /// `{m}`, `{m,}`, `{,n}`, `{,}`, `{m,n}` at `{`, written out; false
    /// (nothing consumed) when the brace is a literal.
    fn repeat(&mut self) -> bool {
        let mut j = self.i + 1;
        let digits = |j: &mut usize, chars: &[char]| {
            let start = *j;
            while chars.get(*j).is_some_and(char::is_ascii_digit) {
                *j += 1;
            }
            chars[start..*j].iter().collect::<String>()
        };
        if self.chars.get(j) == Some(&'}') {
            return false;
        }
        let low = digits(&mut j, &self.chars);
        let high = if self.chars.get(j) == Some(&',') {
            j += 1;
            Some(digits(&mut j, &self.chars))
        } else {
            None
        };
        if self.chars.get(j) != Some(&'}') {
            return false;
        }
        let low = if low.is_empty() { "0".to_owned() } else { low };
        match high {
            None => self.out.push_str(&format!("{{{low}}}")),
            Some(high) => self.out.push_str(&format!("{{{low},{high}}}")),
        }
        self.i = j + 1;
        self.quantifier_suffix();
        true
    }

    /// `(` and what follows it.
    fn group(&mut self) -> Result<(), String> {
        let rest: String = self.chars[self.i..].iter().take(4).collect();
        let open = |t: &mut Self, text: &str, consumed: usize| {
            t.groups.push((t.multiline, t.verbose));
            t.out.push_str(text);
            t.i += consumed;
        };
        if !rest.starts_with("(?") {
            open(self, "(", 1);
            return Ok(());
        }
        if rest.starts_with("(?:") {
            open(self, "(?:", 3);
        } else if rest.starts_with("(?P<") {
            open(self, "(?P<", 4);
        } else if rest.starts_with("(?P=") {
            let close = self.find(')', self.i + 4).ok_or("missing ), unterminated name")?;
            let name: String = self.chars[self.i + 4..close].iter().collect();
            self.out.push_str(&format!(r"\k<{name}>"));
            self.i = close + 1;
            self.backtracking = true;
        } else if rest.starts_with("(?=") || rest.starts_with("(?!") || rest.starts_with("(?>") {
            let text = rest[..3].to_owned();
            open(self, &text, 3);
            self.backtracking = true;
        } else if rest.starts_with("(?<=") || rest.starts_with("(?<!") {
            open(self, &rest, 4);
            self.backtracking = true;
        } else if rest.starts_with("(?<") {
            // Named with `fancy-regex`'s spelling, which Python lacks.
            open(self, "(?<", 3);
        } else if rest.starts_with("(?#") {
            let close = self.find(')', self.i + 3).ok_or("missing ), unterminated comment")?;
            self.i = close + 1;
        } else if rest.starts_with("(?(") {
            let close = self.find(')', self.i + 3).ok_or("missing ), unterminated name")?;
            let condition: String = self.chars[self.i..=close].iter().collect();
            self.groups.push((self.multiline, self.verbose));
            self.out.push_str(&condition);
            self.i = close + 1;
            self.backtracking = true;
        } else {
            self.flags()?;
        }
        Ok(())
    }

    fn find(&self, wanted: char, from: usize) -> Option<usize> {
        (from..self.chars.len()).find(|&j| self.chars[j] == wanted)
    }

    /// `(?flags)` for the whole pattern or `(?on-off:...)` for a group.
    fn flags(&mut self) -> Result<(), String> {
        let mut j = self.i + 2;
        let mut on = String::new();
        let mut off = String::new();
        let mut negative = false;
        loop {
            match self.chars.get(j) {
                Some('-') if !negative => negative = true,
                Some(&c @ ('i' | 'm' | 's' | 'x' | 'u' | 'a' | 'L')) => {
                    if matches!(c, 'a' | 'L') {
                        return Err(format!(
                            "the flag `{c}` (ASCII or locale matching) is not supported"
                        ));
                    }
                    if negative { off.push(c) } else { on.push(c) }
                }
                Some(')') if !negative && !on.is_empty() => {
                    self.found.ignorecase |= on.contains('i');
                    self.found.multiline |= on.contains('m');
                    self.found.dotall |= on.contains('s');
                    self.found.verbose |= on.contains('x');
                    // Set on the builder, for the whole pattern.
                    self.i = j + 1;
                    return Ok(());
                }
                Some(':') if !on.is_empty() || !off.is_empty() => break,
                Some(other) => return Err(format!("unknown extension ?{other}")),
                None => return Err("missing ), unterminated flags".to_owned()),
            }
            j += 1;
        }
        self.groups.push((self.multiline, self.verbose));
        for (letters, set) in [(&on, true), (&off, false)] {
            if letters.contains('m') {
                self.multiline = set;
            }
            if letters.contains('x') {
                self.verbose = set;
            }
        }
        let keep =
            |letters: &str| letters.chars().filter(|c| "ims".contains(*c)).collect::<String>();
        let (on, off) = (keep(&on), keep(&off));
        self.out.push_str("(?");
        self.out.push_str(&on);
        if !off.is_empty() {
            self.out.push('-');
            self.out.push_str(&off);
        }
        self.out.push(':');
        self.i = j + 1;
        Ok(())
    }

    /// A backslash escape outside a set.
    fn escape(&mut self) -> Result<(), String> {
        let Some(c) = self.peek(1) else {
            return Err("bad escape (end of pattern)".to_owned());
        };
        match c {
            'Z' => {
                self.out.push_str(r"\z");
                self.i += 2;
            }
            'A' | 'b' | 'B' | 'd' | 'D' | 's' | 'S' | 'w' | 'W' | 'z' | 'a' | 'f' | 'n' | 'r'
            | 't' | 'v' => {
                self.out.push('\\');
                self.out.push(c);
                self.i += 2;
            }
            '0'..='9' => {
                let octal = |k: usize| self.peek(k).is_some_and(|d| ('0'..='7').contains(&d));
                if c == '0' || (octal(1) && octal(2) && octal(3)) {
                    let value = self.octal()?;
                    self.out.push_str(&format!(r"\x{{{value:X}}}"));
                } else {
                    let mut number = c.to_string();
                    self.i += 2;
                    if let Some(d) = self.peek(0).filter(char::is_ascii_digit) {
                        number.push(d);
                        self.i += 1;
                    }
                    self.out.push_str(&format!(r"\k<{number}>"));
                    self.backtracking = true;
                }
            }
            _ => {
                let literal = self.char_escape()?;
                push_literal(&mut self.out, literal);
            }
        }
        Ok(())
    }

    /// `\` and up to three octal digits at `self.i`.
    fn octal(&mut self) -> Result<u32, String> {
        self.i += 1;
        let mut value = 0;
        for _ in 0..3 {
            match self.peek(0).and_then(|d| d.to_digit(8)) {
                Some(d) => {
                    value = value * 8 + d;
                    self.i += 1;
                }
                None => break,
            }
        }
        if value > 0o377 {
            return Err(format!("octal escape value \\{value:o} outside of range 0-0o377"));
        }
        Ok(value)
    }

    /// An escape that stands for one character (`\n`, `\x41`, `\u00e9`,
    /// `\.`), at `self.i`.
    fn char_escape(&mut self) -> Result<char, String> {
        let c = self.peek(1).ok_or("bad escape (end of pattern)")?;
        let hex = |t: &mut Self, digits: usize| -> Result<char, String> {
            let text: String = t.chars.iter().skip(t.i + 2).take(digits).collect();
            let value = (text.len() == digits && text.chars().all(|d| d.is_ascii_hexdigit()))
                .then(|| u32::from_str_radix(&text, 16).ok())
                .flatten()
                .ok_or_else(|| format!("incomplete escape \\{c}{text}"))?;
            t.i += 2 + digits;
            char::from_u32(value).ok_or_else(|| format!("bad escape \\{c}{text}"))
        };
        let simple = |t: &mut Self, value: char| {
            t.i += 2;
            Ok(value)
        };
        match c {
            'x' => hex(self, 2),
            'u' => hex(self, 4),
            'U' => hex(self, 8),
            'n' => simple(self, '\n'),
            't' => simple(self, '\t'),
            'r' => simple(self, '\r'),
            'f' => simple(self, '\u{0c}'),
            'v' => simple(self, '\u{0b}'),
            'a' => simple(self, '\u{07}'),
            'N' => Err(r"named Unicode escapes (\N{...}) are not supported".to_owned()),
            c if c.is_ascii_alphanumeric() => Err(format!("bad escape \\{c}")),
            c => simple(self, c),
        }
    }

    /// A set, `[...]`, written with every member spelled out.
    fn set(&mut self) -> Result<(), String> {
        self.i += 1;
        self.out.push('[');
        if self.peek(0) == Some('^') {
            self.out.push('^');
            self.i += 1;
        }
        let mut first = true;
        loop {
            let c = self.peek(0).ok_or("unterminated character set")?;
            if c == ']' && !first {
                self.out.push(']');
                self.i += 1;
                return Ok(());
            }
            first = false;
            let low = self.member()?;
            let is_range = self.peek(0) == Some('-') && self.peek(1).is_some_and(|c| c != ']');
            if !is_range {
                match low {
                    Member::Char(c) => push_set_char(&mut self.out, c),
                    Member::Class(class) => self.out.push_str(&class),
                }
                continue;
            }
            self.i += 1;
            let high = self.member()?;
            match (low, high) {
                (Member::Char(low), Member::Char(high)) if low <= high => {
                    push_set_char(&mut self.out, low);
                    self.out.push('-');
                    push_set_char(&mut self.out, high);
                }
                (Member::Char(low), Member::Char(high)) => {
                    return Err(format!("bad character range {low}-{high}"));
                }
                _ => return Err("bad character range".to_owned()),
            }
        }
    }

    /// One member of a set: a character or a class escape (`\d`).
    fn member(&mut self) -> Result<Member, String> {
        let c = self.peek(0).ok_or("unterminated character set")?;
        if c != '\\' {
            self.i += 1;
            return Ok(Member::Char(c));
        }
        match self.peek(1) {
            Some(class @ ('d' | 'D' | 's' | 'S' | 'w' | 'W')) => {
                self.i += 2;
                Ok(Member::Class(format!("\\{class}")))
            }
            Some('b') => {
                self.i += 2;
                Ok(Member::Char('\u{08}'))
            }
            Some('0'..='7') => {
                let value = self.octal()?;
                char::from_u32(value).map(Member::Char).ok_or_else(|| "bad escape".to_owned())
            }
            _ => self.char_escape().map(Member::Char),
        }
    }
}

enum Member {
    Char(char),
    Class(String),
}

/// A literal character outside a set.
fn push_literal(out: &mut String, c: char) {
    if c.is_ascii_punctuation() {
        out.push('\\');
        out.push(c);
    } else if c.is_control() {
        out.push_str(&format!(r"\x{{{:X}}}", u32::from(c)));
    } else {
        out.push(c);
    }
}

/// A literal character inside a set: punctuation, blanks and controls by
/// code point, so that nothing in it is read as set syntax.
fn push_set_char(out: &mut String, c: char) {
    if c.is_ascii_punctuation() || c.is_whitespace() || c.is_control() {
        out.push_str(&format!(r"\x{{{:X}}}", u32::from(c)));
    } else {
        out.push(c);
    }
}
