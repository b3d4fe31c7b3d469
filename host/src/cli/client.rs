//! The HTTP client behind the commands that talk to a running `squall
//! serve`: where the server is and which credential to send (an API key
//! given explicitly, a token, the config file's key, then the local admin
//! key), requests and their errors as one line, signing in for a token,
//! and the live event stream. What the commands print is in `output.rs`;
//! the config file itself is `config.rs`.

use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use base64::Engine as _;
use serde_json::Value;

use super::config::{ConfigFile, read_config};
use super::output::one_line;

/// The server a client talks to when nothing says otherwise (where `squall
/// serve` listens by default).
pub(crate) const DEFAULT_URL: &str = "http://127.0.0.1:9101";
/// The versioned API's prefix.
const API_PREFIX: &str = "/api/v1";
/// Where tokens are issued and revoked.
const AUTH_PREFIX: &str = "/auth/v1";
/// The admin key `squall serve` writes into its data directory.
const ADMIN_KEY_FILE: &str = "admin-api-key";
/// Largest answer read (a page of 1,000 executions with their results).
const BODY_LIMIT: u64 = 256 << 20;

/// Where the server is and how to authenticate; every remote command takes
/// these flags.
#[derive(Debug, Clone, Default, clap::Args)]
pub(crate) struct Remote {
    /// The server's URL [default: `$SQUALL_URL`, else `url` in the config
    /// file, else http://127.0.0.1:9101]. Plain `http://` only.
    #[arg(long, value_name = "URL")]
    pub(crate) url: Option<String>,
    /// The API key [default: `$SQUALL_API_KEY`, else a token (`--token`,
    /// `$SQUALL_AUTH_TOKEN`, or the one `squall login` stored), else
    /// `api_key` in the config file (`~/.config/squall/config.toml`, or
    /// `$SQUALL_CONFIG`), else, for a server on this machine, the admin key
    /// `squall serve` wrote to `admin-api-key` in `$SQUALL_DATA_DIR` or its
    /// default data directory].
    #[arg(long, value_name = "KEY", conflicts_with = "token")]
    pub(crate) api_key: Option<String>,
    /// A token from `squall login` (or `POST /auth/v1/tokens`) [default:
    /// `$SQUALL_AUTH_TOKEN`, else the one `squall login` stored in the
    /// config file, for the server it came from].
    #[arg(long, value_name = "TOKEN")]
    pub(crate) token: Option<String>,
    /// Print the server's JSON instead of tables and listings for people.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Where the credential sent came from, to say so when the server refuses
/// it; the `Token…` ones are tokens, sent as `X-Auth-Token`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeySource {
    Flag,
    Environment,
    Config(PathBuf),
    AdminFile(PathBuf),
    TokenFlag,
    TokenEnvironment,
    /// The login stored in the config file, and whose it is.
    TokenConfig {
        path: PathBuf,
        user: Option<String>,
    },
    None,
}

impl KeySource {
    /// Whether the credential is a token rather than an API key.
    pub(crate) fn is_token(&self) -> bool {
        matches!(self, Self::TokenFlag | Self::TokenEnvironment | Self::TokenConfig { .. })
    }
}

/// What the client talks to, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// `http://host:port`, without a trailing slash or the API prefix.
    pub(crate) base: String,
    pub(crate) key: Option<String>,
    pub(crate) key_source: KeySource,
}

/// What resolution reads besides the flags; the process's in [`Inputs::gather`],
/// anything in tests.
#[derive(Debug, Default)]
pub(crate) struct Inputs {
    pub(crate) env_url: Option<String>,
    pub(crate) env_key: Option<String>,
    /// `$SQUALL_AUTH_TOKEN`.
    pub(crate) env_token: Option<String>,
    /// Where the config file is, or would be.
    pub(crate) config_path: Option<PathBuf>,
    /// The config file's path and contents, if it exists.
    pub(crate) config: Option<(PathBuf, ConfigFile)>,
    /// Where `squall serve` keeps its data by default (or `$SQUALL_DATA_DIR`).
    pub(crate) data_dir: Option<PathBuf>,
}

impl Inputs {
    /// The environment, the config file and the data directory of this
    /// process and user.
    pub(crate) fn gather() -> anyhow::Result<Self> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let config_path = var("SQUALL_CONFIG")
            .map(PathBuf::from)
            .or_else(|| Some(dirs::config_dir()?.join("squall").join("config.toml")));
        let config = match &config_path {
            Some(path) => read_config(path)?.map(|config| (path.clone(), config)),
            None => None,
        };
        let data_dir = std::env::var_os("SQUALL_DATA_DIR")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .or_else(|| Some(dirs::data_dir()?.join("squall")));
        Ok(Self {
            env_url: var("SQUALL_URL"),
            env_key: var("SQUALL_API_KEY"),
            env_token: var("SQUALL_AUTH_TOKEN"),
            config_path,
            config,
            data_dir,
        })
    }
}

impl Target {
    /// Resolves the server and the credential. The server: `--url`, then
    /// the environment, then the config file, then the default. The
    /// credential: an API key given explicitly (flag, then environment),
    /// then a token (flag, environment, the stored login), then the config
    /// file's key, then the admin key file. A stored login is sent only to
    /// the server that issued it, and the admin key file is read only for
    /// a server on this machine, so that neither is ever sent elsewhere.
    pub(crate) fn resolve(remote: &Remote, inputs: &Inputs) -> anyhow::Result<Self> {
        let config = inputs.config.as_ref();
        let url = remote
            .url
            .clone()
            .or_else(|| inputs.env_url.clone())
            .or_else(|| config.and_then(|(_, c)| c.url.clone()))
            .unwrap_or_else(|| DEFAULT_URL.to_owned());
        let base = normalise_url(&url)?;
        let (key, key_source) = if let Some(key) = &remote.api_key {
            (Some(key.clone()), KeySource::Flag)
        } else if let Some(token) = &remote.token {
            (Some(token.clone()), KeySource::TokenFlag)
        } else if let Some(key) = &inputs.env_key {
            (Some(key.clone()), KeySource::Environment)
        } else if let Some(token) = &inputs.env_token {
            (Some(token.clone()), KeySource::TokenEnvironment)
        } else if let Some((path, login)) = config
            && let Some(token) = &login.token
            && login
                .token_url
                .as_deref()
                .is_none_or(|url| normalise_url(url).is_ok_and(|u| u == base))
        {
            let user = login.token_user.clone();
            (Some(token.clone()), KeySource::TokenConfig { path: path.clone(), user })
        } else if let Some((path, ConfigFile { api_key: Some(key), .. })) = config {
            (Some(key.clone()), KeySource::Config(path.clone()))
        } else if let Some(file) = inputs.data_dir.as_ref().map(|d| d.join(ADMIN_KEY_FILE))
            && is_loopback(&base)
            && let Ok(text) = std::fs::read_to_string(&file)
            && !text.trim().is_empty()
        {
            (Some(text.trim().to_owned()), KeySource::AdminFile(file))
        } else {
            (None, KeySource::None)
        };
        let key = key.map(|k| k.trim().to_owned()).filter(|k| !k.is_empty());
        let key_source = if key.is_some() { key_source } else { KeySource::None };
        Ok(Self { base, key, key_source })
    }
}

/// `URL` as `http://host[:port]`: a missing scheme means `http://`, a
/// trailing `/` or `/api/v1` is dropped; `https://` is refused (this
/// client has no TLS stack).
fn normalise_url(url: &str) -> anyhow::Result<String> {
    let url = url.trim();
    let rest = if let Some(rest) = url.strip_prefix("http://") {
        rest
    } else if url.starts_with("https://") {
        bail!(
            "{url}: https is not supported: this client speaks plain http, meant for a server on \
             this machine; use http://, or reach a remote server through an SSH tunnel"
        );
    } else if let Some((scheme, _)) = url.split_once("://") {
        bail!("{url}: unsupported scheme `{scheme}`; expected http://HOST:PORT");
    } else {
        url
    };
    let rest = rest.trim_end_matches('/');
    let rest = rest.strip_suffix(API_PREFIX).unwrap_or(rest).trim_end_matches('/');
    if rest.is_empty() || rest.contains(['/', '?', '#', ' ']) {
        bail!("{url}: expected http://HOST:PORT");
    }
    Ok(format!("http://{rest}"))
}

/// Whether `base` (`http://host[:port]`) names this machine.
fn is_loopback(base: &str) -> bool {
    let authority = base.trim_start_matches("http://");
    let authority = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let host = if let Some(bracketed) = authority.strip_prefix('[') {
        bracketed.split_once(']').map_or(bracketed, |(host, _)| host)
    } else {
        authority.rsplit_once(':').map_or(authority, |(host, _)| host)
    };
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// A path segment, percent-encoded.
pub(crate) fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~:@".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// An error answer from the server, as one line.
#[derive(Debug)]
pub(crate) struct ServerError {
    status: u16,
    reason: String,
    message: String,
    detail: Option<Value>,
    hint: Option<String>,
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (HTTP {} {}", self.message, self.status, self.reason)?;
        if let Some(detail) = &self.detail {
            write!(f, "; detail: {detail}")?;
        }
        f.write_str(")")?;
        if let Some(hint) = &self.hint {
            write!(f, "; {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ServerError {}

impl ServerError {
    /// The HTTP status the server answered.
    pub(crate) fn status(&self) -> u16 {
        self.status
    }
}

/// What a 401 means for a request: the credential sent was refused (say
/// which), or, signing in, the password was (the server says so).
#[derive(Debug, Clone, Copy)]
enum Refusal {
    Credential,
    Password,
}

/// A connection to the API.
#[derive(Debug)]
pub(crate) struct Client {
    agent: ureq::Agent,
    target: Target,
}

/// A successful answer: its JSON (`Null` for an empty body) and the
/// `X-Total-Count` of a list.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) body: Value,
    pub(crate) total: Option<usize>,
    /// Where the next page starts, when the server says more match
    /// (`x-next-offset`; also when it cut a page short at its size cap).
    pub(crate) next_offset: Option<usize>,
}

impl Client {
    /// A client for the server `remote` and this process's environment
    /// name.
    pub(crate) fn new(remote: &Remote) -> anyhow::Result<Self> {
        Ok(Self::for_target(Target::resolve(remote, &Inputs::gather()?)?))
    }

    pub(crate) fn for_target(target: Target) -> Self {
        let proxy = if is_loopback(&target.base) { None } else { ureq::Proxy::try_from_env() };
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .proxy(proxy)
            .max_redirects(0)
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_recv_response(Some(Duration::from_secs(120)))
            .user_agent(format!("squall/{}", env!("CARGO_PKG_VERSION")))
            .build()
            .new_agent();
        Self { agent, target }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{API_PREFIX}{path}", self.target.base)
    }

    fn authorise<B>(&self, request: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        match &self.target.key {
            Some(token) if self.target.key_source.is_token() => {
                request.header("X-Auth-Token", token)
            }
            Some(key) => request.header("Authorization", format!("Bearer {key}")),
            None => request,
        }
    }

    /// `POST /auth/v1/tokens` with `user`'s password: a new token, for
    /// `ttl` seconds or the server's default.
    pub(crate) fn sign_in(
        &self,
        user: &str,
        password: &str,
        ttl: Option<u64>,
    ) -> anyhow::Result<Answer> {
        let credentials =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        let request = self
            .agent
            .post(format!("{}{AUTH_PREFIX}/tokens", self.target.base))
            .header("Authorization", format!("Basic {credentials}"));
        let body = match ttl {
            Some(ttl) => serde_json::json!({"ttl": ttl}),
            None => serde_json::json!({}),
        };
        self.answer_as(request.send_json(body), Refusal::Password)
    }

    /// `DELETE /auth/v1/tokens/{id}`: revokes a token.
    pub(crate) fn revoke_token(&self, id: &str) -> anyhow::Result<Answer> {
        let url = format!("{}{AUTH_PREFIX}/tokens/{}", self.target.base, segment(id));
        self.answer(self.authorise(self.agent.delete(url)).call())
    }

    /// `GET path?query`.
    pub(crate) fn get(&self, path: &str, query: &[(&str, String)]) -> anyhow::Result<Answer> {
        let mut request = self.authorise(self.agent.get(self.url(path)));
        for (name, value) in query {
            request = request.query(*name, value);
        }
        self.answer(request.call())
    }

    /// `POST path` with a JSON body.
    pub(crate) fn post_json(&self, path: &str, body: &Value) -> anyhow::Result<Answer> {
        self.answer(self.authorise(self.agent.post(self.url(path))).send_json(body))
    }

    /// `POST path` with no body.
    pub(crate) fn post_empty(&self, path: &str) -> anyhow::Result<Answer> {
        self.answer(self.authorise(self.agent.post(self.url(path))).send_empty())
    }

    /// `POST path` with `body` of type `content_type`.
    pub(crate) fn post_text(
        &self,
        path: &str,
        content_type: &str,
        body: &str,
    ) -> anyhow::Result<Answer> {
        let request = self.authorise(self.agent.post(self.url(path))).content_type(content_type);
        self.answer(request.send(body))
    }

    /// `POST path?query` with a binary body of type `content_type`.
    pub(crate) fn post_bytes(
        &self,
        path: &str,
        query: &[(&str, String)],
        content_type: &str,
        body: &[u8],
    ) -> anyhow::Result<Answer> {
        let mut request =
            self.authorise(self.agent.post(self.url(path))).content_type(content_type);
        for (name, value) in query {
            request = request.query(*name, value);
        }
        self.answer(request.send(body))
    }

    /// `PUT path` with a JSON body.
    pub(crate) fn put_json(&self, path: &str, body: &Value) -> anyhow::Result<Answer> {
        self.answer(self.authorise(self.agent.put(self.url(path))).send_json(body))
    }

    /// `PUT path` with `body` of type `content_type`.
    pub(crate) fn put_text(
        &self,
        path: &str,
        content_type: &str,
        body: &str,
    ) -> anyhow::Result<Answer> {
        let request = self.authorise(self.agent.put(self.url(path))).content_type(content_type);
        self.answer(request.send(body))
    }

    /// `PUT path` with no body.
    pub(crate) fn put_empty(&self, path: &str) -> anyhow::Result<Answer> {
        self.answer(self.authorise(self.agent.put(self.url(path))).send_empty())
    }

    /// `DELETE path?query`.
    pub(crate) fn delete(&self, path: &str, query: &[(&str, String)]) -> anyhow::Result<Answer> {
        let mut request = self.authorise(self.agent.delete(self.url(path)));
        for (name, value) in query {
            request = request.query(*name, value);
        }
        self.answer(request.call())
    }

    /// `GET /stream?query`: the live events, as they come.
    pub(crate) fn stream(&self, query: &[(&str, String)]) -> anyhow::Result<Events> {
        let mut request = self.authorise(self.agent.get(self.url("/stream")));
        for (name, value) in query {
            request = request.query(*name, value);
        }
        let request = request.header("Accept", "text/event-stream");
        let response = request.call().map_err(|e| self.transport_error(e))?;
        if !response.status().is_success() {
            return Err(self.error_answer(response, Refusal::Credential).into());
        }
        let reader = response.into_body().into_reader();
        Ok(Events { lines: BufReader::new(Box::new(reader)) })
    }

    fn answer(
        &self,
        result: Result<http::Response<ureq::Body>, ureq::Error>,
    ) -> anyhow::Result<Answer> {
        self.answer_as(result, Refusal::Credential)
    }

    fn answer_as(
        &self,
        result: Result<http::Response<ureq::Body>, ureq::Error>,
        refusal: Refusal,
    ) -> anyhow::Result<Answer> {
        let mut response = result.map_err(|e| self.transport_error(e))?;
        if !response.status().is_success() {
            return Err(self.error_answer(response, refusal).into());
        }
        let number = |name: &str| {
            response.headers().get(name).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok())
        };
        let (total, next_offset) = (number("x-total-count"), number("x-next-offset"));
        let text = response
            .body_mut()
            .with_config()
            .limit(BODY_LIMIT)
            .read_to_string()
            .map_err(|e| self.transport_error(e))?;
        let body = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).with_context(|| {
                format!("{}: the answer is not JSON: {}", self.target.base, excerpt(&text))
            })?
        };
        Ok(Answer { body, total, next_offset })
    }

    fn error_answer(
        &self,
        mut response: http::Response<ureq::Body>,
        refusal: Refusal,
    ) -> ServerError {
        let status = response.status();
        let text = response.body_mut().with_config().limit(1 << 20).read_to_string();
        let parsed: Option<Value> = text.as_deref().ok().and_then(|t| serde_json::from_str(t).ok());
        let (message, detail) = match parsed {
            Some(Value::Object(mut body)) if body.get("error").is_some_and(Value::is_string) => {
                let message = body.remove("error").and_then(|e| e.as_str().map(str::to_owned));
                (message.unwrap_or_default(), body.remove("detail").filter(|d| !d.is_null()))
            }
            _ => (
                format!("the server at {} answered {}", self.target.base, status.as_u16()),
                text.ok().filter(|t| !t.trim().is_empty()).map(|t| Value::String(excerpt(&t))),
            ),
        };
        let hint = match (status.as_u16(), refusal) {
            (401, Refusal::Credential) => Some(self.key_hint()),
            (403, _) if detail.as_ref().is_some_and(|d| d.get("permission").is_some()) => Some(
                "ask an administrator for a role that grants it (`squall role assign USER ROLE`)"
                    .to_owned(),
            ),
            _ => None,
        };
        ServerError {
            status: status.as_u16(),
            reason: status.canonical_reason().unwrap_or("").to_owned(),
            message: one_line(&message),
            detail,
            hint,
        }
    }

    /// What to say when the server refuses the credential.
    fn key_hint(&self) -> String {
        match &self.target.key_source {
            KeySource::None => "no API key or token was given: run `squall login USER`, pass \
                                --api-key, set SQUALL_API_KEY, or put `api_key` in \
                                ~/.config/squall/config.toml"
                .to_owned(),
            KeySource::TokenFlag => "the token given with --token expired or was revoked; run \
                                     `squall login USER` for a new one"
                .to_owned(),
            KeySource::TokenEnvironment => "the token in SQUALL_AUTH_TOKEN expired or was \
                                            revoked; run `squall login USER` for a new one"
                .to_owned(),
            KeySource::TokenConfig { path, user } => format!(
                "the token stored in {} expired or was revoked; run `squall login {}` to sign \
                 in again",
                path.display(),
                user.as_deref().unwrap_or("USER")
            ),
            KeySource::Flag => "the key given with --api-key was refused".to_owned(),
            KeySource::Environment => "the key in SQUALL_API_KEY was refused".to_owned(),
            KeySource::Config(path) => format!("the key in {} was refused", path.display()),
            KeySource::AdminFile(path) => format!(
                "the admin key in {} was refused (it belongs to another data directory?)",
                path.display()
            ),
        }
    }

    fn transport_error(&self, error: ureq::Error) -> anyhow::Error {
        let base = &self.target.base;
        match error {
            ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
                anyhow::anyhow!(
                    "cannot connect to {base}: connection refused; is the server running? \
                     Start it with `squall serve`, or point --url/SQUALL_URL at it"
                )
            }
            ureq::Error::HostNotFound => anyhow::anyhow!("cannot connect to {base}: unknown host"),
            ureq::Error::Timeout(which) => {
                anyhow::anyhow!("{base} did not answer in time ({which})")
            }
            other => anyhow::anyhow!("cannot talk to {base}: {other}"),
        }
    }
}

fn excerpt(text: &str) -> String {
    let line = one_line(text);
    match line.char_indices().nth(200) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line,
    }
}

/// One Server-Sent Event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Event {
    /// The `event:` name (`message` when none was given).
    pub(crate) name: String,
    /// The `data:` lines, joined by `\n`.
    pub(crate) data: String,
}

/// The live event stream, read line by line.
pub(crate) struct Events {
    lines: BufReader<Box<dyn Read + Send>>,
}

impl fmt::Debug for Events {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Events").finish_non_exhaustive()
    }
}

impl Events {
    /// The next event; `None` when the server ends the stream.
    pub(crate) fn next_event(&mut self) -> anyhow::Result<Option<Event>> {
        next_event(&mut self.lines).context("reading the event stream")
    }
}

/// Reads one event from `lines` (the SSE format: `field: value` lines, an
/// empty line ends an event, `:` starts a comment).
fn next_event(lines: &mut impl BufRead) -> std::io::Result<Option<Event>> {
    let mut name = None;
    let mut data: Option<String> = None;
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        let line = line.trim_end_matches(['\n', '\r']);
        if line.is_empty() {
            if let Some(data) = data.take() {
                let name = name.take().unwrap_or_else(|| "message".to_owned());
                return Ok(Some(Event { name, data }));
            }
            name = None;
            continue;
        }
        if line.starts_with(':') {
            continue;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => name = Some(value.to_owned()),
            "data" => match &mut data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => data = Some(value.to_owned()),
            },
            _ => {} // id, retry: not used
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(text: &str) -> impl BufRead {
        std::io::Cursor::new(text.as_bytes().to_vec())
    }

    #[test]
    fn urls_are_normalised_and_https_is_refused() {
        assert_eq!(normalise_url("http://127.0.0.1:9101/").expect("ok"), "http://127.0.0.1:9101");
        assert_eq!(normalise_url("localhost:9101").expect("ok"), "http://localhost:9101");
        assert_eq!(normalise_url("http://h:1/api/v1/").expect("ok"), "http://h:1");
        let error = normalise_url("https://squall.example.com").expect_err("an error").to_string();
        assert!(error.contains("https is not supported"), "{error}");
        assert!(normalise_url("ftp://x").is_err());
        assert!(normalise_url("http://h:1/other").is_err());
    }

    #[test]
    fn loopback_hosts_are_recognised() {
        assert!(is_loopback("http://127.0.0.1:9101"));
        assert!(is_loopback("http://127.8.0.1"));
        assert!(is_loopback("http://localhost:1"));
        assert!(is_loopback("http://[::1]:9101"));
        assert!(!is_loopback("http://10.0.0.1:9101"));
        assert!(!is_loopback("http://squall.example.com:9101"));
        assert!(!is_loopback("http://[2001:db8::1]:9101"));
    }

    #[test]
    fn flags_beat_the_environment_which_beats_the_config_file() {
        let config = ConfigFile {
            url: Some("http://c:3".into()),
            api_key: Some("ckey".into()),
            ..ConfigFile::default()
        };
        let mut inputs = Inputs {
            env_url: Some("http://e:2".into()),
            env_key: Some("ekey".into()),
            config: Some((PathBuf::from("/cfg.toml"), config)),
            ..Inputs::default()
        };
        let flags = Remote {
            url: Some("http://f:1".into()),
            api_key: Some("fkey".into()),
            ..Remote::default()
        };
        let target = Target::resolve(&flags, &inputs).expect("ok");
        assert_eq!((target.base.as_str(), target.key.as_deref()), ("http://f:1", Some("fkey")));
        assert_eq!(target.key_source, KeySource::Flag);

        let target = Target::resolve(&Remote::default(), &inputs).expect("ok");
        assert_eq!((target.base.as_str(), target.key.as_deref()), ("http://e:2", Some("ekey")));
        assert_eq!(target.key_source, KeySource::Environment);

        inputs.env_url = None;
        inputs.env_key = None;
        let target = Target::resolve(&Remote::default(), &inputs).expect("ok");
        assert_eq!((target.base.as_str(), target.key.as_deref()), ("http://c:3", Some("ckey")));
        assert_eq!(target.key_source, KeySource::Config(PathBuf::from("/cfg.toml")));

        let target = Target::resolve(&Remote::default(), &Inputs::default()).expect("ok");
        assert_eq!(target.base, DEFAULT_URL);
        assert_eq!((target.key, target.key_source), (None, KeySource::None));
    }

    #[test]
    fn an_explicit_key_beats_a_token_which_beats_the_config_key_and_the_admin_file() {
        let dir = tempfile::tempdir().expect("ok");
        std::fs::write(dir.path().join(ADMIN_KEY_FILE), "sq_admin\n").expect("ok");
        let config = ConfigFile {
            api_key: Some("ckey".into()),
            token: Some("sqt_stored".into()),
            token_user: Some("bob".into()),
            token_url: Some("http://127.0.0.1:9101/".into()),
            ..ConfigFile::default()
        };
        let mut inputs = Inputs {
            env_key: Some("ekey".into()),
            env_token: Some("sqt_env".into()),
            config: Some((PathBuf::from("/cfg.toml"), config)),
            data_dir: Some(dir.path().to_owned()),
            ..Inputs::default()
        };
        let resolve = |remote: &Remote, inputs: &Inputs| {
            let target = Target::resolve(remote, inputs).expect("ok");
            (target.key.unwrap_or_default(), target.key_source)
        };
        let token = Remote { token: Some("sqt_flag".into()), ..Remote::default() };
        assert_eq!(resolve(&token, &inputs), ("sqt_flag".into(), KeySource::TokenFlag));
        assert_eq!(resolve(&Remote::default(), &inputs), ("ekey".into(), KeySource::Environment));
        inputs.env_key = None;
        assert_eq!(
            resolve(&Remote::default(), &inputs),
            ("sqt_env".into(), KeySource::TokenEnvironment)
        );
        inputs.env_token = None;
        let stored = KeySource::TokenConfig { path: "/cfg.toml".into(), user: Some("bob".into()) };
        assert_eq!(resolve(&Remote::default(), &inputs), ("sqt_stored".into(), stored.clone()));
        assert!(stored.is_token() && !KeySource::Config("/c".into()).is_token());
        // The stored token goes only to the server that issued it.
        let elsewhere = Remote { url: Some("http://127.0.0.1:9999".into()), ..Remote::default() };
        assert_eq!(
            resolve(&elsewhere, &inputs),
            ("ckey".into(), KeySource::Config("/cfg.toml".into()))
        );
        if let Some((_, config)) = &mut inputs.config {
            config.api_key = None;
        }
        let admin = KeySource::AdminFile(dir.path().join(ADMIN_KEY_FILE));
        assert_eq!(resolve(&elsewhere, &inputs), ("sq_admin".into(), admin));
    }

    #[test]
    fn the_admin_key_file_is_read_only_for_a_server_on_this_machine() {
        let dir = tempfile::tempdir().expect("ok");
        std::fs::write(dir.path().join(ADMIN_KEY_FILE), "sq_admin\n").expect("ok");
        let inputs = Inputs { data_dir: Some(dir.path().to_owned()), ..Inputs::default() };
        let target = Target::resolve(&Remote::default(), &inputs).expect("ok");
        assert_eq!(target.key.as_deref(), Some("sq_admin"));
        assert_eq!(target.key_source, KeySource::AdminFile(dir.path().join(ADMIN_KEY_FILE)));

        let remote = Remote { url: Some("http://10.1.2.3:9101".into()), ..Remote::default() };
        let target = Target::resolve(&remote, &inputs).expect("ok");
        assert_eq!((target.key, target.key_source), (None, KeySource::None));
    }

    #[test]
    fn events_are_read_line_by_line() {
        let mut lines = reader(
            ": keep-alive\n\nevent: execution\ndata: {\"a\":1}\n\ndata: one\ndata: two\r\n\r\nevent: cut",
        );
        let first = next_event(&mut lines).expect("ok").expect("ok");
        assert_eq!(first, Event { name: "execution".into(), data: "{\"a\":1}".into() });
        let second = next_event(&mut lines).expect("ok").expect("ok");
        assert_eq!(second, Event { name: "message".into(), data: "one\ntwo".into() });
        assert_eq!(next_event(&mut lines).expect("ok"), None);
    }

    #[test]
    fn path_segments_are_percent_encoded() {
        assert_eq!(segment("ops.disk_full"), "ops.disk_full");
        assert_eq!(segment("a b/c?d"), "a%20b%2Fc%3Fd");
    }
}
