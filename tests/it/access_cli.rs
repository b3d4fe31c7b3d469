//! Users, roles and tokens through the `squall` binary against `squall
//! serve`, both real processes: `login` stores a token that later commands
//! send and `logout` revokes; an observer is refused with the missing
//! permission named; `role load` applies StackStorm's role and assignment
//! files, or nothing when one is broken; keys limited to webhooks.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use super::client::Outcome;

/// `squall serve` on a fresh data directory, on 127.0.0.1 (port 0),
/// with the built-in core pack only; killed on drop.
struct Serve {
    child: Child,
    url: String,
    dir: tempfile::TempDir,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Serve {
    fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        // Run in the temporary directory, with the built-in core pack.
        let mut child = squall_tests::serve_in(env!("CARGO_BIN_EXE_squall-host"), dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start squall serve");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut url = None;
        let mut seen = Vec::new();
        for line in lines.by_ref().map_while(Result::ok) {
            if let Some(rest) = line.split("listening on ").nth(1) {
                url = rest.split(' ').next().map(str::to_owned);
                break;
            }
            seen.push(line);
        }
        // Keep reading, so that the server never writes to a closed pipe.
        std::thread::spawn(move || lines.for_each(drop));
        let url = url.unwrap_or_else(|| panic!("squall serve did not start; it said {seen:#?}"));
        Self { child, url, dir }
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn admin_password(&self) -> String {
        std::fs::read_to_string(self.data().join("admin-password")).expect("admin-password")
    }

    /// `squall ARGS` against this server with `config` as its config file,
    /// `stdin` as its standard input, and no credential but what `config`
    /// holds: no admin key file to fall back on.
    fn squall(&self, config: &Path, args: &[&str], stdin: &str) -> Outcome {
        self.run(config, &self.dir.path().join("no-data"), args, stdin)
    }

    /// [`squall`](Self::squall) with the server's data directory, so that
    /// the admin key file is there to fall back on.
    fn as_admin(&self, config: &Path, args: &[&str]) -> Outcome {
        self.run(config, &self.data(), args, "")
    }

    fn run(&self, config: &Path, data_dir: &Path, args: &[&str], stdin: &str) -> Outcome {
        let mut child = Command::new(env!("CARGO_BIN_EXE_squall-host"))
            .args(args)
            .env("SQUALL_URL", &self.url)
            .env("SQUALL_CONFIG", config)
            .env("SQUALL_DATA_DIR", data_dir)
            .env_remove("SQUALL_API_KEY")
            .env_remove("SQUALL_AUTH_TOKEN")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run squall");
        child.stdin.take().expect("stdin").write_all(stdin.as_bytes()).expect("write stdin");
        let deadline = Instant::now() + Duration::from_secs(60);
        while child.try_wait().expect("wait").is_none() {
            assert!(Instant::now() < deadline, "squall {args:?} did not finish");
            std::thread::sleep(Duration::from_millis(10));
        }
        let output = child.wait_with_output().expect("output");
        Outcome {
            code: output.status.code().and_then(|c| u8::try_from(c).ok()).unwrap_or(255),
            stdout: String::from_utf8(output.stdout).expect("utf-8 stdout"),
            stderr: String::from_utf8(output.stderr).expect("utf-8 stderr"),
        }
    }

    fn config(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// A refusal: exit 2 and stderr containing every one of `parts`.
fn refused(outcome: &Outcome, parts: &[&str]) {
    assert_eq!(outcome.code, 2, "expected a refusal: {outcome:?}");
    for part in parts {
        assert!(outcome.stderr.contains(part), "stderr lacks {part:?}: {}", outcome.stderr);
    }
}

#[test]
fn login_stores_a_token_that_commands_send_and_logout_revokes_it() {
    let serve = Serve::start();
    let config = serve.config("config.toml");
    let mine = "# the team's registry\nregistry = \"ghcr.io/acme\"\n";
    std::fs::write(&config, mine).expect("config");

    // Nothing to authenticate with yet: no token, no admin key file.
    refused(&serve.squall(&config, &["user", "list"], ""), &["401", "squall login USER"]);

    let login =
        serve.squall(&config, &["login", "admin", "--password-stdin"], &serve.admin_password());
    assert!(login.ok().contains("logged in to"), "{}", login.stdout);
    let stored = std::fs::read_to_string(&config).expect("config");
    assert!(stored.starts_with(mine), "other lines are kept: {stored}");
    assert!(stored.contains("token = \"sqt_"), "{stored}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&config).expect("metadata").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the config file holds a secret");
    }

    let users = serve.squall(&config, &["user", "list", "--json"], "").json();
    assert_eq!(users[0]["name"], "admin", "{users}");
    assert_eq!(users[0]["roles"], json!(["system_admin"]));

    let token = stored
        .lines()
        .find_map(|l| l.strip_prefix("token = \""))
        .and_then(|l| l.strip_suffix('"'))
        .expect("the token line")
        .to_owned();
    let before_logout = serve.config("before-logout.toml");
    std::fs::copy(&config, &before_logout).expect("copy");

    let logout = serve.squall(&config, &["logout"], "");
    assert!(logout.ok().contains("the token is revoked"), "{}", logout.stdout);
    assert_eq!(std::fs::read_to_string(&config).expect("config"), mine);
    refused(&serve.squall(&config, &["user", "list"], ""), &["401"]);

    // The revoked token, stored or given, is refused with what to do.
    refused(
        &serve.squall(&before_logout, &["user", "list"], ""),
        &["401", "expired or was revoked", "squall login admin"],
    );
    refused(
        &serve.squall(&config, &["user", "list", "--token", &token], ""),
        &["--token expired or was revoked", "squall login USER"],
    );
    let again = serve.squall(&config, &["logout"], "");
    assert!(again.ok().starts_with("not logged in"), "{}", again.stdout);
}

#[test]
fn an_observer_is_told_which_permission_it_lacks() {
    let serve = Serve::start();
    let admin = serve.config("admin.toml");
    let bob = serve.config("bob.toml");
    let created = serve.run(
        &admin,
        &serve.data(),
        &["user", "create", "bob", "--role", "observer", "--password-stdin", "--json"],
        "bob-password-1\n",
    );
    let created = created.json();
    assert_eq!(created["roles"], json!(["observer"]));
    assert_eq!(created["has_password"], true);

    refused(
        &serve.squall(&bob, &["login", "bob", "--password-stdin"], "not-bobs-password\n"),
        &["401", "invalid user name or password"],
    );
    serve.squall(&bob, &["login", "bob", "--password-stdin"], "bob-password-1\n").ok();
    // The admin key file is there too, but the stored token comes first.
    let denied = serve.run(&bob, &serve.data(), &["apikey", "create", "x"], "");
    refused(&denied, &["403", "lacks the permission `api_key_create`", "squall role assign"]);
    let listed = serve.run(&bob, &serve.data(), &["user", "list", "--json"], "").json();
    assert_eq!(listed.as_array().map(Vec::len), Some(2), "an observer may list: {listed}");

    // Bob changes his own password: the current one first, then the new.
    refused(
        &serve.squall(
            &bob,
            &["user", "passwd", "bob", "--password-stdin"],
            "wrong-password\nbob-password-2\n",
        ),
        &["403", "current_password"],
    );
    let changed = serve.squall(
        &bob,
        &["user", "passwd", "bob", "--password-stdin"],
        "bob-password-1\nbob-password-2\n",
    );
    assert!(changed.ok().contains("password of bob changed"), "{}", changed.stdout);
    serve.squall(&bob, &["login", "bob", "--password-stdin"], "bob-password-2\n").ok();
}

const ROLE: &str = r#"---
name: "core_runner"
description: "Runs the core pack's actions"
enabled: true
permission_grants:
    -
        resource_uid: "pack:core"
        permission_types:
           - "action_execute"
    -
        permission_types:
           - "action_list"
"#;

const ASSIGNMENT: &str = r#"---
username: "bob"
description: "Bob runs core"
roles:
    - "core_runner"
    - "observer"
"#;

const BROKEN: &str = r#"---
name: "broken"
permission_grants:
    -
        resource_uid: "pack:core"
        permission_types: ["action_fly"]
"#;

#[test]
fn role_load_applies_stackstorm_files_or_nothing() {
    let serve = Serve::start();
    let config = serve.config("config.toml");
    let rbac = serve.dir.path().join("rbac");
    for (file, text) in [
        ("roles/core_runner.yaml", ROLE),
        ("roles/zz_broken.yaml", BROKEN),
        ("assignments/bob.yaml", ASSIGNMENT),
    ] {
        let path = rbac.join(file);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("dir");
        std::fs::write(path, text).expect("file");
    }

    let broken = serve.as_admin(&config, &["role", "load", rbac.to_str().expect("utf-8")]);
    refused(
        &broken,
        &[
            "zz_broken.yaml: permission_grants[0].permission_types[0]",
            "action_fly",
            "nothing was loaded",
        ],
    );
    let roles = serve.as_admin(&config, &["role", "list", "--json"]).json();
    let names: Vec<&str> =
        roles.as_array().expect("roles").iter().filter_map(|r| r["name"].as_str()).collect();
    assert_eq!(names, ["system_admin", "admin", "observer"], "nothing was loaded");
    refused(&serve.as_admin(&config, &["user", "get", "bob"]), &["404"]);

    std::fs::remove_file(rbac.join("roles/zz_broken.yaml")).expect("remove");
    let loaded = serve.as_admin(&config, &["role", "load", rbac.to_str().expect("utf-8")]);
    assert!(loaded.ok().contains("loaded roles: 1, assignments: 1"), "{}", loaded.stdout);

    let role = serve.as_admin(&config, &["role", "get", "core_runner"]);
    let shown = role.ok();
    for line in ["  pack:core: action_execute", "  (global): action_list", "users:       bob"] {
        assert!(shown.contains(line), "role get lacks {line:?}: {shown}");
    }
    let bob = serve.as_admin(&config, &["user", "get", "bob", "--json"]).json();
    assert_eq!(bob["roles"], json!(["core_runner", "observer"]));
    assert_eq!(bob["description"], "Bob runs core");

    let revoked = serve.as_admin(&config, &["role", "revoke", "bob", "observer"]);
    assert_eq!(revoked.ok(), "bob now holds: core_runner\n");
    let missing = serve.as_admin(
        &config,
        &["role", "load", serve.dir.path().join("nowhere").to_str().expect("utf-8")],
    );
    refused(&missing, &["nowhere/roles", "nowhere/assignments"]);
}

#[test]
fn a_key_limited_to_webhooks_shows_its_patterns() {
    let serve = Serve::start();
    let config = serve.config("config.toml");
    let created =
        serve.as_admin(&config, &["apikey", "create", "hook", "--webhook", "alerts/*", "--json"]);
    let created = created.json();
    assert_eq!(created["webhooks"], json!(["alerts/*"]));
    assert_eq!(created["user"], "admin");

    let listed = serve.as_admin(&config, &["apikey", "list"]);
    let rows: Vec<Vec<&str>> =
        listed.ok().lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows[0], ["ID", "NAME", "USER", "WEBHOOKS", "CREATED", "REVOKED"]);
    let hook = rows.iter().find(|r| r.get(1) == Some(&"hook")).expect("the hook row");
    assert_eq!(hook[2..4], ["admin", "alerts/*"], "{}", listed.stdout);
    let unlimited = rows.iter().find(|r| r.get(1) == Some(&"admin")).expect("the admin key");
    assert_eq!(unlimited[3], "-", "{}", listed.stdout);

    refused(
        &serve.as_admin(&config, &["apikey", "create", "bad", "--webhook", "two words"]),
        &["--webhook", "without blanks"],
    );
}
