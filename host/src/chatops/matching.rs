//! Which alias a chat command means, and the help listing — StackStorm's
//! rules (`actionalias_matching.py`, `actionalias_helpstring.py`): every
//! enabled alias's every format is tried; exactly one may match, several
//! are an ambiguity and none is an answer that says so. Aliases whose
//! formats are all `match_multiple` are tried only when nothing else
//! matched.

use serde::Serialize;
use serde_json::{Map, Value};

use super::alias::{ActionAlias, AliasFormat};
use super::format::{Format, FormatError};

/// The outcome when a command does not resolve to exactly one format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatchError {
    /// Nothing matched.
    #[error("Command '{command}' matched no patterns")]
    NoMatch {
        /// The command.
        command: String,
    },
    /// Several formats matched; `matches` names them (`pack.alias: format`).
    #[error("Command '{command}' matched more than 1 {kind}pattern: {}", matches.join("; "))]
    Ambiguous {
        /// The command.
        command: String,
        /// `""`, or `"(multi) "` for the `match_multiple` round.
        kind: &'static str,
        /// Each match as `pack.alias: representation`.
        matches: Vec<String>,
    },
    /// A format that cannot match (refused on load; kept for aliases
    /// stored by older versions).
    #[error("{0}")]
    Format(#[from] FormatError),
}

/// The one format a command matched.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Matched<'a> {
    /// Its alias.
    #[serde(skip)]
    pub alias: &'a ActionAlias,
    /// What help shows for the format.
    pub display: Option<String>,
    /// The string that matched.
    pub representation: String,
    /// Whether each match in the command is its own execution.
    #[serde(skip)]
    pub match_multiple: bool,
}

impl Matched<'_> {
    /// The parameters of each execution `command` asks for: one set, or
    /// one per match for a `match_multiple` format.
    pub fn parameters(&self, command: &str) -> Result<Vec<Map<String, Value>>, FormatError> {
        let format = Format::new(&self.representation)?;
        if self.match_multiple {
            format.extract_all(command)
        } else {
            Ok(vec![format.extract(command)?])
        }
    }
}

/// The format of `aliases` that `command` matches.
pub fn match_command<'a>(
    command: &str,
    aliases: &'a [ActionAlias],
) -> Result<Matched<'a>, MatchError> {
    let enabled = || aliases.iter().filter(|alias| alias.enabled);
    let single = enabled().filter(|alias| alias.formats.iter().any(|f| !f.match_multiple()));
    let found = matches(command, single, false)?;
    if found.len() > 1 {
        return Err(ambiguous(command, "", &found));
    }
    if let Some(one) = found.into_iter().next() {
        return Ok(one);
    }
    let multiple = enabled().filter(|alias| alias.formats.iter().any(AliasFormat::match_multiple));
    let found = matches(command, multiple, true)?;
    if found.len() > 1 {
        return Err(ambiguous(command, "(multi) ", &found));
    }
    found.into_iter().next().ok_or_else(|| MatchError::NoMatch { command: command.to_owned() })
}

fn matches<'a>(
    command: &str,
    aliases: impl Iterator<Item = &'a ActionAlias>,
    multiple_round: bool,
) -> Result<Vec<Matched<'a>>, MatchError> {
    let mut found = Vec::new();
    for alias in aliases {
        for entry in &alias.formats {
            let display = entry.display().map(str::to_owned);
            let representations = entry.representations();
            // A format with only a display matches as the empty format,
            // as in StackStorm (commands of `key=value` pairs alone).
            let representations =
                if representations.is_empty() { vec![""] } else { representations };
            for representation in representations {
                match Format::new(representation)?.extract(command) {
                    Ok(_) => found.push(Matched {
                        alias,
                        display: display.clone(),
                        representation: representation.to_owned(),
                        match_multiple: multiple_round && entry.match_multiple(),
                    }),
                    Err(FormatError::NoMatch { .. } | FormatError::NoValue) => {}
                    Err(other) => return Err(other.into()),
                }
            }
        }
    }
    Ok(found)
}

fn ambiguous(command: &str, kind: &'static str, found: &[Matched<'_>]) -> MatchError {
    MatchError::Ambiguous {
        command: command.to_owned(),
        kind,
        matches: found
            .iter()
            .map(|m| format!("{}: {}", m.alias.reference(), m.representation))
            .collect(),
    }
}

/// One line of help.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HelpString {
    /// The alias's pack.
    pub pack: String,
    /// The format as help shows it.
    pub display: String,
    /// The alias's description.
    pub description: Option<String>,
}

/// The help listing: how many lines are available, and the page asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Help {
    /// Lines that pass the filter, in all.
    pub available: usize,
    /// The lines from `offset`, at most `limit` (0: all).
    pub helpstrings: Vec<HelpString>,
}

/// An invalid help filter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("filter: not a valid regular expression: {0}")]
pub struct FilterError(String);

/// The help lines of enabled `aliases` (of `pack`, when given) whose
/// display matches `filter`, a case-insensitive regular expression
/// searched anywhere in it.
pub fn help(
    aliases: &[ActionAlias],
    filter: Option<&str>,
    pack: Option<&str>,
    limit: usize,
    offset: usize,
) -> Result<Help, FilterError> {
    let filter = fancy_regex::RegexBuilder::new(filter.unwrap_or(""))
        .case_insensitive(true)
        .backtrack_limit(100_000)
        .build()
        .map_err(|e| FilterError(e.to_string()))?;
    let mut available = 0;
    let mut helpstrings = Vec::new();
    let lines = aliases
        .iter()
        .filter(|alias| alias.enabled && pack.is_none_or(|p| p == alias.pack))
        .flat_map(|alias| alias.formats.iter().filter_map(move |f| Some((alias, f.display()?))));
    for (alias, display) in lines {
        if !filter.is_match(display).map_err(|e| FilterError(e.to_string()))? {
            continue;
        }
        let in_page = available >= offset && (limit == 0 || available < offset + limit);
        if in_page {
            helpstrings.push(HelpString {
                pack: alias.pack.clone(),
                display: display.to_owned(),
                description: alias.description.clone(),
            });
        }
        available += 1;
    }
    Ok(Help { available, helpstrings })
}
