//! `pack.toml`'s `[build]` section: the language a pack is written in and
//! its entry point, so that `squall pack build` knows which toolchain turns
//! the source into a component. Absent, a pack is a Rust crate.

use serde::Deserialize;

/// The language a pack's source is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Language {
    /// A Cargo crate built for `wasm32-wasip2` with `squall-sdk`.
    #[default]
    Rust,
    /// Python, made a component by componentize-py.
    Python,
    /// JavaScript (an ES module), made a component by componentize-js.
    Js,
}

impl Language {
    /// Every language, in the order the CLI lists them.
    pub const ALL: [Language; 3] = [Language::Rust, Language::Python, Language::Js];

    /// The name `pack.toml` and the CLI use.
    pub fn name(self) -> &'static str {
        match self {
            Language::Rust => "rust",
            Language::Python => "python",
            Language::Js => "js",
        }
    }

    /// Reads a name as `pack.toml` and `--lang` spell it.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.name() == name)
    }

    /// The entry point used when `build.entry` is not given.
    pub fn default_entry(self) -> Option<&'static str> {
        match self {
            Language::Rust => None,
            Language::Python => Some("app.py"),
            Language::Js => Some("index.js"),
        }
    }

    fn extension(self) -> Option<&'static str> {
        match self {
            Language::Rust => None,
            Language::Python => Some(".py"),
            Language::Js => Some(".js"),
        }
    }
}

impl std::fmt::Display for Language {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How a pack is built from source.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BuildSpec {
    /// The source language.
    pub language: Language,
    /// The entry file, relative to the pack directory (Python and
    /// JavaScript only): the module whose import registers the actions and
    /// sensors.
    pub entry: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBuild {
    language: Option<String>,
    entry: Option<String>,
}

impl RawBuild {
    /// Checks the section; errors are `(field, what was expected)`.
    pub(super) fn check(self) -> Result<BuildSpec, (&'static str, String)> {
        let language = match self.language.as_deref() {
            None => Language::Rust,
            Some(name) => Language::parse(name).ok_or_else(|| {
                ("build.language", format!("expected `rust`, `python` or `js`, got `{name}`"))
            })?,
        };
        let entry = match (language.extension(), self.entry) {
            (None, Some(_)) => {
                return Err((
                    "build.entry",
                    "only python and js packs name an entry; a Rust pack is its Cargo crate".into(),
                ));
            }
            (None, None) => None,
            (Some(_), None) => language.default_entry().map(str::to_owned),
            (Some(extension), Some(entry)) => {
                let relative = !entry.starts_with('/')
                    && !entry.contains('\\')
                    && entry.split('/').all(|part| !part.is_empty() && part != "..");
                if !relative || !entry.ends_with(extension) {
                    return Err((
                        "build.entry",
                        format!(
                            "expected a `{extension}` file inside the pack directory, such as `{}`, got `{entry}`",
                            language.default_entry().unwrap_or_default()
                        ),
                    ));
                }
                Some(entry)
            }
        };
        Ok(BuildSpec { language, entry })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(language: Option<&str>, entry: Option<&str>) -> Result<BuildSpec, String> {
        let raw = RawBuild { language: language.map(Into::into), entry: entry.map(Into::into) };
        raw.check().map_err(|(field, message)| format!("{field}: {message}"))
    }

    #[test]
    fn languages_and_entries() {
        type Case = (
            Option<&'static str>,
            Option<&'static str>,
            Result<(Language, Option<&'static str>), &'static str>,
        );
        let cases: &[Case] = &[
            (None, None, Ok((Language::Rust, None))),
            (Some("rust"), None, Ok((Language::Rust, None))),
            (Some("python"), None, Ok((Language::Python, Some("app.py")))),
            (Some("js"), None, Ok((Language::Js, Some("index.js")))),
            (Some("python"), Some("src/main.py"), Ok((Language::Python, Some("src/main.py")))),
            (
                Some("ruby"),
                None,
                Err("build.language: expected `rust`, `python` or `js`, got `ruby`"),
            ),
            (
                Some("rust"),
                Some("lib.rs"),
                Err(
                    "build.entry: only python and js packs name an entry; a Rust pack is its Cargo crate",
                ),
            ),
            (
                Some("js"),
                Some("../index.js"),
                Err(
                    "build.entry: expected a `.js` file inside the pack directory, such as `index.js`, got `../index.js`",
                ),
            ),
            (
                Some("python"),
                Some("app.js"),
                Err(
                    "build.entry: expected a `.py` file inside the pack directory, such as `app.py`, got `app.js`",
                ),
            ),
        ];
        for (language, entry, expected) in cases {
            let got = check(*language, *entry);
            let expected = expected
                .map(|(language, entry)| BuildSpec { language, entry: entry.map(Into::into) });
            assert_eq!(got, expected.map_err(str::to_owned), "{language:?} {entry:?}");
        }
    }
}
