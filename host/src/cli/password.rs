//! Where the commands that take a password read it: at the terminal,
//! without echo, or (`--password-stdin`, for scripts) one line of standard
//! input each. Passwords never come from flags, which other users of the
//! machine can read in the process list.

use std::io::{BufRead, IsTerminal as _};

use anyhow::{Context as _, bail};

use crate::access::{MAX_PASSWORD, MIN_PASSWORD, check_password};

/// The passwords of one command, read in order.
pub(crate) struct Passwords {
    /// Standard input's lines with `--password-stdin`; `None`: the terminal.
    lines: Option<Box<dyn BufRead>>,
}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passwords").field("stdin", &self.lines.is_some()).finish()
    }
}

impl Passwords {
    /// From standard input when `from_stdin`, else from the terminal, which
    /// standard input must then be.
    pub(crate) fn new(from_stdin: bool) -> anyhow::Result<Self> {
        if from_stdin {
            return Ok(Self { lines: Some(Box::new(std::io::stdin().lock())) });
        }
        if !std::io::stdin().is_terminal() {
            bail!(
                "there is no terminal to ask for the password: pass --password-stdin and write \
                 the password to standard input"
            );
        }
        Ok(Self { lines: None })
    }

    /// Reads from `lines` instead (tests).
    #[cfg(test)]
    fn from_lines(text: &'static str) -> Self {
        Self { lines: Some(Box::new(std::io::Cursor::new(text))) }
    }

    /// One password, `what` naming it (`the password for alice`): the next
    /// line of standard input (its line ending dropped, nothing else), or
    /// asked for at the terminal.
    pub(crate) fn read(&mut self, what: &str) -> anyhow::Result<String> {
        let Some(lines) = &mut self.lines else {
            return rpassword::prompt_password(format!("{what}: "))
                .with_context(|| format!("cannot read {what} from the terminal"));
        };
        let mut line = String::new();
        let read = lines.read_line(&mut line).context("reading standard input")?;
        if read == 0 {
            bail!("standard input ended before {what} (--password-stdin reads one line each)");
        }
        let password = line.strip_suffix('\n').unwrap_or(&line);
        Ok(password.strip_suffix('\r').unwrap_or(password).to_owned())
    }

    /// A new password, checked here before it is sent: at the terminal it
    /// is asked for twice, so that a typing mistake does not lock anyone
    /// out.
    pub(crate) fn new_password(&mut self, what: &str) -> anyhow::Result<String> {
        let password = self.read(what)?;
        if check_password(&password).is_err() {
            bail!(
                "{what}: expected {MIN_PASSWORD} to {MAX_PASSWORD} characters, got {}",
                password.chars().count()
            );
        }
        if self.lines.is_none() && self.read(&format!("{what} again"))? != password {
            bail!("{what}: the two entries differ; nothing was changed");
        }
        Ok(password)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_input_gives_one_password_a_line() {
        let mut passwords = Passwords::from_lines("old secret\r\nnew secret 2\n");
        assert_eq!(passwords.read("the current password").expect("ok"), "old secret");
        assert_eq!(passwords.new_password("the new password").expect("ok"), "new secret 2");
        let error = passwords.read("a third").expect_err("no more lines").to_string();
        assert!(error.contains("ended before a third"), "{error}");
    }

    #[test]
    fn a_short_new_password_is_refused_here() {
        let mut passwords = Passwords::from_lines("short\n");
        let error = passwords.new_password("the password for bob").expect_err("short").to_string();
        assert_eq!(error, "the password for bob: expected 8 to 1024 characters, got 5");
    }
}
