"""Write Squall packs in Python: plain functions, JSON in and out.

    import squall

    @squall.action("greet")
    def greet(params, ctx):
        squall.log.info(f"greeting {params['name']}")
        return {"message": f"hello, {params['name']}"}

    @squall.sensor("tick")
    def tick(config, cursor):
        n = int(cursor or 0) + 1
        return squall.Poll([squall.Event("mypack.tick", {"n": n})], cursor=str(n))

An action gets its parameters as a dict and a `Context`, and returns anything
`json.dumps` accepts. A sensor gets its config as a dict and the last cursor
the host committed (or None) and returns a `Poll`. Raise `InvalidInput`,
`Failed` or `Timeout` to fail with that kind of error; any other exception
fails the call as `failed` with its type and message.

The host's imports are `log`, `kv`, `secrets`, `config`, `exec` and `http`.
Each answers `Denied` (an exception) unless the operator granted it.

`squall pack build` bundles this file with the pack. Outside a component
(e.g. under `python3 -m unittest`) the imports are served by a local stand-in
(`local`), so that an action can be unit-tested with plain Python, and
`run_action` gives the action the parameters the server would: pack.toml's
defaults applied and its JSON Schema checked, by `squall pack params` (the
server's own code; `squall` is $SQUALL_BIN, else found on PATH).
"""

import json
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

__all__ = [
    "action", "sensor", "Context", "Event", "Poll", "Response",
    "Error", "InvalidInput", "Failed", "Denied", "Timeout",
    "log", "kv", "secrets", "config", "exec", "http",
    "run_action", "run_sensor", "parameters", "local",
]


class Error(Exception):
    """A pack error the host records; `kind` is its WIT variant."""

    kind = "failed"


class InvalidInput(Error):
    """The parameters or config were not what the pack expects."""

    kind = "invalid-input"


class Failed(Error):
    """The work was attempted and failed."""

    kind = "failed"


class Denied(Error):
    """The host refused a capability the operator did not grant."""

    kind = "denied"


class Timeout(Error):
    """Something the pack waited on took too long."""

    kind = "timeout"


@dataclass
class Context:
    """Who runs an action and why. `execution_id` is stable across retries:
    use it as an idempotency key."""

    execution_id: str
    pack: str
    attempt: int


@dataclass
class Event:
    """One trigger instance: the full trigger type name and its payload."""

    trigger: str
    payload: Any


@dataclass
class Poll:
    """What a poll found; `cursor=None` keeps the previous cursor."""

    events: List[Event] = field(default_factory=list)
    cursor: Optional[str] = None


@dataclass
class Response:
    """An HTTP answer."""

    status: int
    headers: Dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.body)


_actions: Dict[str, Callable] = {}
_sensors: Dict[str, Callable] = {}


def action(name: str):
    """Marks `fn(params: dict, ctx: Context)` as the action `name`."""
    def mark(fn):
        _actions[name] = fn
        return fn
    return mark


def sensor(name: str):
    """Marks `fn(config: dict, cursor: str | None) -> Poll` as the poll
    sensor `name`."""
    def mark(fn):
        _sensors[name] = fn
        return fn
    return mark


def _loads(text: str, what: str) -> Any:
    try:
        return json.loads(text) if text else {}
    except ValueError as e:
        raise InvalidInput(f"{what}: not JSON: {e}") from None


def _find_manifest(name: str) -> str:
    """pack.toml in the directory of the file that defines the action `name`
    or above, else in the current directory or above."""
    starts = []
    fn = _actions.get(name)
    code = getattr(fn, "__code__", None)
    if code is not None:
        starts.append(os.path.dirname(os.path.abspath(code.co_filename)))
    starts.append(os.getcwd())
    for start in starts:
        here = start
        while True:
            candidate = os.path.join(here, "pack.toml")
            if os.path.isfile(candidate):
                return candidate
            parent = os.path.dirname(here)
            if parent == here:
                break
            here = parent
    raise RuntimeError(
        f"no pack.toml in {' or '.join(starts)} or above; pass manifest= (the pack's "
        "directory or its pack.toml)")


def parameters(name: str, params: Any = None, manifest: Optional[str] = None) -> Dict[str, Any]:
    """The parameters the action `name` is given on the server when asked
    with `params`: pack.toml's defaults applied, then its JSON Schema
    checked, by `squall pack params` (the server's code). Raises
    `InvalidInput` with the server's refusal. `manifest` is the pack's
    directory or pack.toml [default: found above the action's file]."""
    import shutil
    import subprocess

    path = str(manifest) if manifest is not None else _find_manifest(name)
    program = os.environ.get("SQUALL_BIN") or shutil.which("squall")
    if not program:
        raise RuntimeError(
            "squall not found: set SQUALL_BIN to the squall binary or put squall on PATH "
            "(run_action applies pack.toml's parameter schema and defaults with "
            "`squall pack params`, as the server does)")
    argv = [program, "pack", "params", path, name, json.dumps({} if params is None else params)]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
    except OSError as e:
        raise RuntimeError(
            f"cannot run {program} (SQUALL_BIN, else squall on PATH): {e}") from None
    if done.returncode == 0:
        return json.loads(done.stdout)
    message = done.stderr.strip()
    if done.returncode == 2:
        raise InvalidInput(message.removeprefix("error: "))
    raise RuntimeError(f"{program} pack params exited {done.returncode}: {message}")


def run_action(name: str, params: Any = None, ctx: Optional[Context] = None,
               manifest: Optional[str] = None) -> Any:
    """Runs the action `name` as the host would and returns its output:
    the parameters prepared as the server prepares them (see `parameters`),
    the output through a JSON round trip; raises `Error` as the host would
    see it."""
    fn = _actions.get(name)
    if fn is None:
        raise InvalidInput(f"no action `{name}` in this pack (it has {sorted(_actions)})")
    ctx = ctx or Context("local", "local", 1)
    prepared = parameters(name, params, manifest)
    return json.loads(json.dumps(fn(prepared, ctx)))


def run_sensor(name: str, config: Any = None, cursor: Optional[str] = None) -> Poll:
    """Polls the sensor `name` as the host would."""
    fn = _sensors.get(name)
    if fn is None:
        raise InvalidInput(f"no sensor `{name}` in this pack (it has {sorted(_sensors)})")
    found = fn(_loads(json.dumps(config or {}), "config"), cursor)
    if not isinstance(found, Poll):
        raise Failed(f"sensor `{name}` returned {type(found).__name__}, expected squall.Poll")
    return found


def _failure(e: BaseException) -> Error:
    if isinstance(e, Error):
        return e
    return Failed(f"{type(e).__name__}: {e}")


try:
    # Present only inside a component built by componentize-py.
    from componentize_py_types import Err as _Err
    from wit_world import exports as _exports
    from wit_world.exports import sensor as _wit_sensor
    from wit_world.imports import config as _config
    from wit_world.imports import exec as _exec
    from wit_world.imports import kv as _kv
    from wit_world.imports import log as _log
    from wit_world.imports import outgoing_handler as _outgoing
    from wit_world.imports import secrets as _secrets
    from wit_world.imports import squall_pack_types as _types
    from wit_world.imports import wasi_http_types as _http
    _IN_COMPONENT = True
except ImportError:
    _IN_COMPONENT = False


class _Local:
    """The imports outside a component: log lines go to stderr and to
    `lines`, kv is a dict, secrets and config are what the test sets.
    HTTP and exec answer `Denied`, as they do for a pack granted nothing."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.lines: List[tuple] = []
        self.kv: Dict[str, str] = {}
        self.secrets: Dict[str, str] = {}
        self.config: Dict[str, Any] = {}


local = _Local()

_LEVELS = ["trace", "debug", "info", "warn", "error"]


class _LogApi:
    def _line(self, level: str, message: str) -> None:
        if _IN_COMPONENT:
            _log.log(_log.Level(_LEVELS.index(level)), str(message))
        else:
            local.lines.append((level, str(message)))
            print(f"[{level}] {message}", file=sys.stderr)

    def trace(self, message: str) -> None:
        self._line("trace", message)

    def debug(self, message: str) -> None:
        self._line("debug", message)

    def info(self, message: str) -> None:
        self._line("info", message)

    def warn(self, message: str) -> None:
        self._line("warn", message)

    def error(self, message: str) -> None:
        self._line("error", message)


def _host_error(e: Exception) -> Error:
    """The pack-facing exception for a WIT `error` value."""
    value = getattr(e, "value", None)
    kinds = {
        "Error_InvalidInput": InvalidInput,
        "Error_Failed": Failed,
        "Error_Denied": Denied,
        "Error_Timeout": Timeout,
    }
    cls = kinds.get(type(value).__name__, Failed)
    return cls(getattr(value, "value", str(e)))


def _call(fn, *args):
    try:
        return fn(*args)
    except _Err as e:
        raise _host_error(e) from None


class _KvApi:
    def get(self, key: str) -> Optional[str]:
        """The value under `key`, or None."""
        if not _IN_COMPONENT:
            return local.kv.get(key)
        return _call(_kv.get, key)

    def set(self, key: str, value: str, ttl: Optional[int] = None) -> None:
        """Stores `value` (text) under `key`; `ttl` in seconds."""
        if not _IN_COMPONENT:
            local.kv[key] = value
            return
        _call(_kv.set, key, value, ttl)

    def delete(self, key: str) -> bool:
        if not _IN_COMPONENT:
            return local.kv.pop(key, None) is not None
        return _call(_kv.delete, key)

    def list_keys(self, prefix: str = "") -> List[str]:
        if not _IN_COMPONENT:
            return sorted(k for k in local.kv if k.startswith(prefix))
        return _call(_kv.list_keys, prefix)


class _SecretsApi:
    def get(self, name: str) -> str:
        """The secret `name`; `Denied` unless the operator granted it."""
        if not _IN_COMPONENT:
            if name not in local.secrets:
                raise Denied(f"secret `{name}` was not granted")
            return local.secrets[name]
        return _call(_secrets.get, name)


class _ConfigApi:
    def get(self) -> Dict[str, Any]:
        """The pack's validated configuration."""
        if not _IN_COMPONENT:
            return dict(local.config)
        return json.loads(_call(_config.get))


class _ExecApi:
    def run(self, program: str, args: List[str], stdin: Optional[str] = None,
            timeout_ms: Optional[int] = None) -> Dict[str, Any]:
        """Runs a granted host program; returns status, stdout, stderr."""
        if not _IN_COMPONENT:
            raise Denied(f"program `{program}` was not granted")
        command = _exec.Command(program=program, args=list(args), stdin=stdin,
                                timeout_ms=timeout_ms)
        out = _call(_exec.run, command)
        return {"status": out.status, "stdout": out.stdout, "stderr": out.stderr}


_METHODS = {
    "GET": "Method_Get", "HEAD": "Method_Head", "POST": "Method_Post", "PUT": "Method_Put",
    "DELETE": "Method_Delete", "CONNECT": "Method_Connect", "OPTIONS": "Method_Options",
    "TRACE": "Method_Trace", "PATCH": "Method_Patch",
}


class _HttpApi:
    def request(self, method: str, url: str, headers: Optional[Dict[str, str]] = None,
                body: Optional[bytes] = None, timeout: Optional[float] = None) -> Response:
        """Sends one request through the host, which lets it out only to a
        granted host (else `Denied`)."""
        if not _IN_COMPONENT:
            raise Denied(f"outbound HTTP for {url} was not granted (no host here)")
        scheme, sep, rest = url.partition("://")
        if not sep or scheme not in ("http", "https"):
            raise InvalidInput(f"url: expected an http:// or https:// URL, got `{url}`")
        authority, slash, path = rest.partition("/")
        fields = _http.Fields.from_list(
            [(k, v.encode()) for k, v in (headers or {}).items()])
        req = _http.OutgoingRequest(fields)
        name = _METHODS.get(method.upper())
        req.set_method(getattr(_http, name)() if name else _http.Method_Other(method))
        req.set_scheme(_http.Scheme_Https() if scheme == "https" else _http.Scheme_Http())
        req.set_authority(authority)
        req.set_path_with_query(slash + path if slash else "/")
        outgoing = req.body()
        if body:
            stream = outgoing.write()
            data = body.encode() if isinstance(body, str) else bytes(body)
            for i in range(0, len(data), 4096):
                stream.blocking_write_and_flush(data[i:i + 4096])
            stream.__exit__(None, None, None)
        options = None
        if timeout is not None:
            options = _http.RequestOptions()
            nanos = int(timeout * 1e9)
            options.set_connect_timeout(nanos)
            options.set_first_byte_timeout(nanos)
            options.set_between_bytes_timeout(nanos)
        try:
            future = _outgoing.handle(req, options)
            _http.OutgoingBody.finish(outgoing, None)
            future.subscribe().block()
            answer = future.get()
        except _Err as e:
            raise _http_error(url, e.value) from None
        # Optional[Result[Result[IncomingResponse, ErrorCode], None]]: None
        # until ready, the outer error when the answer was taken already.
        if answer is None or isinstance(answer, _Err):
            raise Failed(f"HTTP request to {url}: no answer")
        inner = answer.value
        if isinstance(inner, _Err):
            raise _http_error(url, inner.value)
        return _read(inner.value)


def _http_error(url: str, code: Any) -> Error:
    name = type(code).__name__
    if name == "ErrorCode_HttpRequestDenied":
        return Denied(f"outbound HTTP for {url} was not granted to this pack")
    if "Timeout" in name:
        return Timeout(f"HTTP request to {url}: {name.removeprefix('ErrorCode_')}")
    return Failed(f"HTTP request to {url}: {name.removeprefix('ErrorCode_')}")


def _read(response) -> Response:
    headers: Dict[str, str] = {}
    for k, v in response.headers().entries():
        k = k.lower()
        headers[k] = f"{headers[k]}, {v.decode()}" if k in headers else v.decode()
    status = response.status()
    incoming = response.consume()
    stream = incoming.stream()
    chunks = []
    while True:
        try:
            chunks.append(stream.blocking_read(65536))
        except _Err:
            break  # closed: the body is complete
    return Response(status, headers, b"".join(chunks))


log = _LogApi()
kv = _KvApi()
secrets = _SecretsApi()
config = _ConfigApi()
exec = _ExecApi()
http = _HttpApi()


def _wit_error(e: BaseException):
    e = _failure(e)
    variant = {
        "invalid-input": _types.Error_InvalidInput,
        "denied": _types.Error_Denied,
        "timeout": _types.Error_Timeout,
    }.get(e.kind, _types.Error_Failed)
    return _Err(variant(str(e)))


if _IN_COMPONENT:
    class Action(_exports.Action):
        """The component's `action` export: dispatches to `@action` functions."""

        def run(self, name, params, context):
            try:
                ctx = Context(context.execution_id, context.pack, context.attempt)
                fn = _actions.get(name)
                if fn is None:
                    raise InvalidInput(f"no action `{name}` in this pack")
                return json.dumps(fn(_loads(params, "parameters"), ctx))
            except Exception as e:  # every failure is the pack's error value
                raise _wit_error(e) from None

    class Sensor(_exports.Sensor):
        """The component's `sensor` export: dispatches to `@sensor` functions."""

        def poll(self, name, config, cursor):
            try:
                found = run_sensor(name, _loads(config, "config"), cursor)
                return _wit_sensor.PollResult(
                    events=[_wit_sensor.Event(trigger=e.trigger, payload=json.dumps(e.payload))
                            for e in found.events],
                    cursor=found.cursor,
                )
            except Exception as e:
                raise _wit_error(e) from None

        def on_webhook(self, name, request):
            raise _wit_error(InvalidInput(f"no webhook sensor `{name}` in this pack"))
