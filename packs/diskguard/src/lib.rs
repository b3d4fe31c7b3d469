//! The diskguard pack, Squall's auto-remediation example: the `usage`
//! sensor watches a filesystem with `df`, `cleanup` deletes old files with
//! `find` and measures again, `notify` tells someone when that was not
//! enough. The rules beside `pack.toml` chain them.

use serde::{Deserialize, Serialize};
use serde_json::json;
use squall_sdk::exec::{self, Command};
use squall_sdk::{Context, Error, Event, Poll, Result, config, http, log};

const DF: &str = "/usr/bin/df";
const FIND: &str = "/usr/bin/find";
/// The cursor values: the state the last poll saw.
const FULL: &str = "full";
const OK: &str = "ok";
/// How many deleted paths `cleanup` lists; `removed_count` has them all.
const LISTED: usize = 1000;

/// The pack's configuration (the host validates it against `pack.toml`).
#[derive(Debug, Deserialize)]
struct Config {
    path: String,
    #[serde(default = "default_threshold")]
    threshold_percent: u8,
    cleanup_dir: Option<String>,
    #[serde(default = "default_age")]
    older_than_days: u32,
    notify_url: Option<String>,
}

fn default_threshold() -> u8 {
    90
}

fn default_age() -> u32 {
    7
}

/// The `Use%` (`Capacity`) column of `df -P` output for one path.
pub fn parse_df(output: &str) -> Result<u8, String> {
    let mut lines = output.lines().filter(|l| !l.trim().is_empty());
    let header = lines.next().ok_or("df printed nothing")?;
    if !header.starts_with("Filesystem") {
        return Err(format!("unexpected df header `{header}`"));
    }
    let line = lines.next().ok_or("df printed no filesystem line")?;
    if lines.next().is_some() {
        return Err("df printed more than one filesystem line".into());
    }
    // Filesystem (may contain spaces), blocks, used, available, capacity%,
    // mount point (may contain spaces): the capacity is the first `N%`
    // preceded by three numbers.
    let fields: Vec<&str> = line.split_whitespace().collect();
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (4..fields.len())
        .find(|&i| fields[i - 3..i].iter().all(|f| numeric(f)) && fields[i].ends_with('%'))
        .and_then(|i| fields[i].trim_end_matches('%').parse::<u8>().ok())
        .filter(|percent| *percent <= 100)
        .ok_or_else(|| format!("no capacity column in df line `{line}`"))
}

/// Runs `df -P path` and returns its use in percent.
fn used_percent(path: &str) -> Result<u8> {
    let output = exec::run(&Command {
        program: DF.into(),
        args: vec!["-P".into(), path.into()],
        stdin: None,
        timeout_ms: Some(10_000),
    })?;
    if output.status != 0 {
        return Err(Error::failed(format!(
            "{DF} -P {path} exited with {}: {}",
            output.status,
            output.stderr.trim()
        )));
    }
    parse_df(&output.stdout).map_err(|e| Error::failed(format!("{DF} -P {path}: {e}")))
}

/// Polls the configured path: emits `diskguard.almost_full` when use is at
/// or above the threshold and the last poll saw it below (or there was no
/// last poll). The cursor is the state seen, `full` or `ok`.
fn usage(config: Config, cursor: Option<String>) -> Result<Poll> {
    let used = used_percent(&config.path)?;
    let full = used >= config.threshold_percent;
    let was_full = cursor.as_deref() == Some(FULL);
    let mut events = Vec::new();
    if full && !was_full {
        log::info(&format!(
            "{} is {used}% used (threshold {}%)",
            config.path, config.threshold_percent
        ));
        events.push(Event::new(
            "diskguard.almost_full",
            &json!({
                "path": config.path,
                "used_percent": used,
                "threshold_percent": config.threshold_percent,
            }),
        )?);
    }
    let state = if full { FULL } else { OK };
    let cursor = (cursor.as_deref() != Some(state)).then(|| state.to_owned());
    Ok(Poll { events, cursor })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Cleanup {
    dir: Option<String>,
    older_than_days: Option<u32>,
    path: Option<String>,
    threshold_percent: Option<u8>,
}

#[derive(Debug, Serialize)]
struct Cleaned {
    dir: String,
    older_than_days: u32,
    path: String,
    removed: Vec<String>,
    removed_count: usize,
    used_percent: u8,
    threshold_percent: u8,
    still_full: bool,
}

/// The pack config, or `None` when a parameter makes it unnecessary.
fn pack_config() -> Result<Option<Config>> {
    let value: serde_json::Value = config::get()?;
    if value.as_object().is_none_or(serde_json::Map::is_empty) {
        return Ok(None);
    }
    serde_json::from_value(value)
        .map(Some)
        .map_err(|e| Error::invalid_input(format!("pack config: {e}")))
}

/// `given`, or the config's value, or an error naming both.
fn or_config<T>(
    given: Option<T>,
    config: &mut Option<Option<Config>>,
    pick: impl FnOnce(&Config) -> Option<T>,
    name: &str,
) -> Result<T> {
    if let Some(value) = given {
        return Ok(value);
    }
    if config.is_none() {
        *config = Some(pack_config()?);
    }
    config.as_ref().and_then(|c| c.as_ref()).and_then(pick).ok_or_else(|| {
        Error::invalid_input(format!("parameter `{name}` is not given and not configured"))
    })
}

/// Deletes the regular files below `dir` modified more than
/// `older_than_days` whole days ago, then measures `path` again.
fn cleanup(params: Cleanup, _ctx: &Context) -> Result<Cleaned> {
    let mut config = None;
    let dir = or_config(params.dir, &mut config, |c| c.cleanup_dir.clone(), "dir")?;
    let days = or_config(
        params.older_than_days,
        &mut config,
        |c| Some(c.older_than_days),
        "older_than_days",
    )?;
    let path = or_config(params.path, &mut config, |c| Some(c.path.clone()), "path")?;
    let threshold = or_config(
        params.threshold_percent,
        &mut config,
        |c| Some(c.threshold_percent),
        "threshold_percent",
    )?;
    check_dir(&dir)?;

    let output = exec::run(&Command {
        program: FIND.into(),
        args: [&dir, "-type", "f", "-mtime", &format!("+{days}"), "-delete", "-print"]
            .map(String::from)
            .into(),
        stdin: None,
        timeout_ms: Some(100_000),
    })?;
    let mut removed: Vec<String> = output.stdout.lines().map(str::to_owned).collect();
    let removed_count = removed.len();
    if output.status != 0 {
        return Err(Error::failed(format!(
            "{FIND} {dir} exited with {} after deleting {removed_count} file(s): {}",
            output.status,
            output.stderr.trim()
        )));
    }
    log::info(&format!("deleted {removed_count} file(s) older than {days} day(s) below {dir}"));
    removed.truncate(LISTED);

    let used = used_percent(&path)?;
    Ok(Cleaned {
        dir,
        older_than_days: days,
        path,
        removed,
        removed_count,
        used_percent: used,
        threshold_percent: threshold,
        still_full: used >= threshold,
    })
}

/// Refuses what `find … -delete` must never be pointed at: a relative path
/// (or one `find` would read as an option) and the root directory.
fn check_dir(dir: &str) -> Result<()> {
    if !dir.starts_with('/') {
        return Err(Error::invalid_input(format!("`dir` must be an absolute path, got `{dir}`")));
    }
    if dir.trim_end_matches('/').is_empty() {
        return Err(Error::invalid_input("`dir` must not be the root directory"));
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Notify {
    url: Option<String>,
    message: String,
}

#[derive(Debug, Serialize)]
struct Notified {
    status: u16,
}

/// POSTs `{"text": message}` to `url` (Slack, Mattermost and most chat
/// webhooks accept that shape). A host the operator did not grant comes
/// back as `denied`.
fn notify(params: Notify, _ctx: &Context) -> Result<Notified> {
    let mut config = None;
    let url = or_config(params.url, &mut config, |c| c.notify_url.clone(), "url")?;
    let body = serde_json::to_vec(&json!({"text": params.message}))?;
    let request = http::Request::post(&url, body).header("content-type", "application/json");
    let response = http::send(&request)?;
    if !(200..300).contains(&response.status) {
        let text = String::from_utf8_lossy(&response.body);
        let excerpt: String = text.chars().take(200).collect();
        return Err(Error::failed(format!("{url} answered {}: {excerpt}", response.status)));
    }
    Ok(Notified { status: response.status })
}

squall_sdk::export_pack! {
    actions: {
        "cleanup" => cleanup,
        "notify" => notify,
    },
    sensors: {
        "usage" => usage,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn df_output_gives_the_capacity() {
        let gnu = "Filesystem     1024-blocks      Used Available Capacity Mounted on\n\
                   /dev/sda1        102626232  93361216   4006240      96% /\n";
        assert_eq!(parse_df(gnu), Ok(96));
        let spaces = "Filesystem 1024-blocks Used Available Capacity Mounted on\n\
                      //nas/my share 1000 0 1000 0% /mnt/my share\n";
        assert_eq!(parse_df(spaces), Ok(0));
        let busybox = "Filesystem           1024-blocks    Used Available Capacity Mounted on\n\
                       overlay                 1000      1000         0 100% /\n";
        assert_eq!(parse_df(busybox), Ok(100));
    }

    #[test]
    fn unexpected_df_output_is_an_error_naming_it() {
        assert_eq!(parse_df(""), Err("df printed nothing".into()));
        assert_eq!(
            parse_df("Filesystem 1024-blocks Used Available Capacity Mounted on\n"),
            Err("df printed no filesystem line".into())
        );
        assert_eq!(
            parse_df(
                "Filesystem 1024-blocks Used Available Capacity Mounted on\nproc 0 0 0 - /proc\n"
            ),
            Err("no capacity column in df line `proc 0 0 0 - /proc`".into())
        );
        assert_eq!(
            parse_df("df: /nope: No such file or directory"),
            Err("unexpected df header `df: /nope: No such file or directory`".into())
        );
        assert_eq!(
            parse_df("Filesystem 1024-blocks Used Available Capacity Mounted on\nx 1 1 1 101% /\n"),
            Err("no capacity column in df line `x 1 1 1 101% /`".into())
        );
    }

    #[test]
    fn cleanup_refuses_relative_and_root_dirs() {
        assert!(check_dir("/var/log/app").is_ok());
        for dir in ["", "var/log", "-delete", "/", "//"] {
            assert!(check_dir(dir).is_err(), "{dir}");
        }
    }
}
