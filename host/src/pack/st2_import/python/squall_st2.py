"""StackStorm's Python runner on Squall, for packs made by `squall pack import`.

The generated entry module calls `setup` once, `register_sensor` for each
polling sensor, `register_shell` and `register_script` for each shell
command and script (see there), and `register` for each Python action: the action's module is imported unchanged while the component is
built, its action class found as StackStorm's loader finds it, and a
Squall action registered that runs it as StackStorm's Python runner does:

- the class is made with `config` (the pack's config from the `config`
  import) and `action_service` (the datastore, through `kv` and `secrets`);
- `run(**parameters)` is called with what goes to stdout and stderr captured;
- the result is StackStorm's: `{"stdout", "stderr", "exit_code", "result"}`,
  where `result` is what `run` returned, or the second item of a
  `(status, result)` pair. `(False, x)` and exceptions fail the execution;
  since a Squall action's failure carries text, not a document, that text
  is the same result as JSON.
"""

import importlib
import inspect
import io
import json
import logging
import os
import re
import shlex
import sys
import traceback
from contextlib import redirect_stderr, redirect_stdout

import squall

__all__ = [
    "setup", "register", "register_sensor", "register_shell", "register_script", "ActionService", "SensorService", "PackConfig",
    "KeyValuePair", "logger_for",
]

# StackStorm's datastore scope for what actions read and write.
SYSTEM_SCOPE = "system"
# StackStorm's separator between a key's owner prefix and its name.
KEY_SEPARATOR = ":"

_pack = "unknown"


def setup(pack, root, paths):
    """Names the pack and puts its code directories (`paths`, relative to
    the pack's `root`) on `sys.path`, as StackStorm's runner does for an
    action's directory and the pack's `lib`."""
    global _pack
    _pack = pack
    for path in paths:
        full = os.path.join(root, path)
        if os.path.isdir(full) and full not in sys.path:
            sys.path.append(full)


class PackConfig(dict):
    """The pack's config; reading a key it does not have raises an error
    naming the key (StackStorm's `PackConfigDict`)."""

    def __init__(self, pack, *args):
        super().__init__(*args)
        self._pack = pack

    def __getitem__(self, key):
        try:
            return super().__getitem__(key)
        except KeyError:
            raise ValueError(
                f'Config for pack "{self._pack}" is missing key "{key}"; set it with the '
                f"pack's config (squall pack install --config FILE)") from None


class _LogHandler(logging.Handler):
    """Sends a logger's records to Squall's `log` import."""

    def emit(self, record):
        try:
            message = self.format(record)
        except Exception:  # a bad format string must not fail the action
            message = str(record.msg)
        if record.levelno >= logging.ERROR:
            squall.log.error(message)
        elif record.levelno >= logging.WARNING:
            squall.log.warn(message)
        elif record.levelno >= logging.INFO:
            squall.log.info(message)
        else:
            squall.log.debug(message)


def logger_for(class_name):
    """StackStorm's action logger (`actions.python.CLASS`), writing to
    Squall's log instead of stderr."""
    logger = logging.getLogger(f"actions.python.{class_name}")
    if not any(isinstance(h, _LogHandler) for h in logger.handlers):
        logger.addHandler(_LogHandler())
        logger.setLevel(logging.DEBUG)
        logger.propagate = False
    return logger


class KeyValuePair:
    """A datastore item as `list_values` returns it (st2client's model)."""

    def __init__(self, name, value, scope=SYSTEM_SCOPE, secret=False):
        self.id = name
        self.name = name
        self.value = value
        self.scope = scope
        self.secret = secret
        self.encrypted = secret

    def __repr__(self):
        return f"<KeyValuePair name={self.name!r}>"


class ActionService:
    """`self.action_service` of an action: StackStorm's datastore calls on
    Squall's imports (the `kv` capability). A `local=True` key is
    StackStorm's name for it, `PACK.CLASS:NAME`, which the host keeps in the
    system scope, where `st2 key get` finds it; `local=False` is the name as
    given, a key of the pack's own (Squall is stricter here: a pack does not
    read the operator's other keys). `decrypt=True` reads the datastore
    secret of that name first (granted as `secret=NAME`)."""

    def __init__(self, pack, class_name):
        self.pack = pack
        self.class_name = class_name
        self._logger = logger_for(class_name)

    def _prefix(self):
        return f"{self.pack}.{self.class_name}{KEY_SEPARATOR}"

    def _full_name(self, name, local):
        return self._prefix() + name if local else name

    @staticmethod
    def _check_scope(scope):
        if scope != SYSTEM_SCOPE:
            raise ValueError(f"Scope {scope} is unsupported.")

    def get_value(self, name, local=True, scope=SYSTEM_SCOPE, decrypt=False):
        self._check_scope(scope)
        full = self._full_name(name, local)
        if decrypt:
            try:
                return squall.secrets.get(full)
            except squall.Error:
                pass  # not a granted secret: an ordinary item, as StackStorm answers
        try:
            return squall.kv.get(full)
        except squall.Error as e:
            # StackStorm logs and answers None when the datastore refuses.
            self._logger.error(f"Exception retrieving value from datastore (name={full}): {e}")
            return None

    def set_value(self, name, value, ttl=None, local=True, scope=SYSTEM_SCOPE, encrypt=False):
        self._check_scope(scope)
        full = self._full_name(name, local)
        if encrypt:
            # Never stored in the clear: Squall packs cannot write secrets yet.
            raise squall.Failed(
                f"set_value({full!r}, encrypt=True): packs imported into Squall cannot store "
                "secrets yet; set it with `squall key set --secret` instead")
        squall.kv.set(full, str(value), int(ttl) if ttl else None)
        return True

    def delete_value(self, name, local=True, scope=SYSTEM_SCOPE):
        self._check_scope(scope)
        full = self._full_name(name, local)
        try:
            return bool(squall.kv.delete(full))
        except squall.Error as e:
            self._logger.error(f"Exception deleting value from datastore (name={full}): {e}")
            return False

    def list_values(self, local=True, prefix=None, limit=None, offset=0):
        if local:
            key_prefix = self._prefix() + (prefix or "")
        else:
            key_prefix = prefix or ""
        names = squall.kv.list_keys(key_prefix)[offset or 0:]
        if limit:
            names = names[:limit]
        return [KeyValuePair(n, squall.kv.get(n)) for n in names]

    def get_user_info(self):
        raise NotImplementedError("get_user_info() is not available to packs on Squall yet")


def _action_class(module):
    """The action class of `module` as StackStorm's loader picks it: the
    first, by name, of the classes defined in the module that implement
    `run`."""
    for _, kls in inspect.getmembers(module, inspect.isclass):
        if kls.__module__ != module.__name__:
            continue
        run = kls.__dict__.get("run") or getattr(kls, "run", None)
        if inspect.isfunction(run) and not getattr(run, "__isabstractmethod__", False):
            return kls
    raise ImportError(
        f"{module.__file__}: found no class in it that implements run() (a StackStorm action)")


def _instance(cls, config, service):
    try:
        return cls(config=config, action_service=service)
    except TypeError as e:
        # Old actions whose constructor takes no action_service.
        if "action_service" not in str(e):
            raise
        instance = cls(config=config)
        instance.action_service = service
        return instance


def _pack_config():
    try:
        found = squall.config.get()
    except squall.Error:
        return {}
    return found if isinstance(found, dict) else {}


def _serializable(value):
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return str(value)


def run_action(cls, params):
    """Runs `cls` as StackStorm's Python runner does; returns its result,
    or raises `squall.Failed` whose message is the failed result as JSON."""
    service = ActionService(_pack, cls.__name__)
    stdout, stderr = io.StringIO(), io.StringIO()
    status, result, exit_code = None, "None", 0
    try:
        with redirect_stdout(stdout), redirect_stderr(stderr):
            output = _instance(cls, _pack_config(), service).run(**params)
    except Exception:
        # What StackStorm's runner records for an action that raised: its
        # traceback on stderr, exit code 1, no result.
        stderr.write(traceback.format_exc())
        status, output, exit_code = False, "None", 1
    if exit_code == 0 and isinstance(output, tuple) and len(output) == 2:
        status, result = output
    else:
        result = output
    if status is not None and not isinstance(status, bool):
        raise squall.Failed(
            "the status run() returned must be True or False, got "
            f"{status!r}; return a list to give two values, or (True, (a, b))")
    result = _serializable(result)
    answer = {
        "stdout": stdout.getvalue(),
        "stderr": stderr.getvalue(),
        "exit_code": exit_code,
        "result": result,
    }
    if status is False:
        raise squall.Failed(json.dumps(answer))
    return answer


def _broken(name, module_name, error, kind):
    """An action or sensor whose module did not import: every call fails
    with the reason."""
    reason = (
        f"{module_name} did not import when the pack was built: {type(error).__name__}: "
        f"{error} (StackStorm installs the pack's requirements.txt; the importer bundles its "
        "pure-Python packages, and the import report says which it could not)")

    @kind(name)
    def _fail(*_args):
        raise squall.Failed(reason)

    return None


def register(name, module_name, declared=()):
    """Imports the action module `module_name` now (while the component is
    built) and registers the Squall action `name` that runs its class. A
    module that does not import (a package from requirements.txt missing)
    makes an action that fails saying so, so that the rest of the pack
    still builds and runs."""
    try:
        cls = _action_class(importlib.import_module(module_name))
    except Exception as e:
        return _broken(name, module_name, e, squall.action)

    @squall.action(name)
    def _run(params, ctx):
        # StackStorm gives run() every declared parameter, None without a value.
        given = {key: None for key in declared}
        given.update(params)
        return run_action(cls, given)

    return cls


class SensorService:
    """`self.sensor_service` of a sensor: `dispatch` collects the poll's
    events (a trigger named without its pack is the sensor's pack's), the
    datastore calls are the actions' (`ActionService`), keys local to the
    sensor's class."""

    def __init__(self, pack, class_name):
        self.pack = pack
        self.events = []
        self._datastore = ActionService(pack, class_name)

    def get_logger(self, name):
        return logger_for(name)

    def dispatch(self, trigger, payload=None, trace_tag=None):
        if isinstance(trigger, dict):
            trigger = trigger.get("ref") or f"{trigger.get('pack', self.pack)}.{trigger.get('name')}"
        if "." not in trigger:
            trigger = f"{self.pack}.{trigger}"
        self.events.append(squall.Event(trigger, payload if payload is not None else {}))

    def dispatch_with_context(self, trigger, payload=None, trace_context=None):
        self.dispatch(trigger, payload)

    def get_value(self, name, local=True, scope=SYSTEM_SCOPE, decrypt=False):
        return self._datastore.get_value(name, local=local, scope=scope, decrypt=decrypt)

    def set_value(self, name, value, ttl=None, local=True, scope=SYSTEM_SCOPE, encrypt=False):
        return self._datastore.set_value(name, value, ttl=ttl, local=local, scope=scope,
                                         encrypt=encrypt)

    def delete_value(self, name, local=True, scope=SYSTEM_SCOPE):
        return self._datastore.delete_value(name, local=local, scope=scope)

    def list_values(self, local=True, prefix=None, limit=None, offset=0):
        return self._datastore.list_values(local=local, prefix=prefix, limit=limit, offset=offset)

    def get_user_info(self):
        return self._datastore.get_user_info()


def register_sensor(name, module_name, class_name, poll_interval):
    """Imports the sensor module now and registers the Squall poll sensor
    `name`: each poll makes `class_name` afresh, calls `setup()` and
    `poll()`, and returns what it dispatched. A poll that raises is logged
    and keeps what was dispatched before, as StackStorm's sensor loop
    logs and carries on."""
    try:
        module = importlib.import_module(module_name)
        cls = getattr(module, class_name, None)
        if cls is None:
            raise ImportError(f"{module.__file__}: has no class {class_name} (its class_name)")
    except Exception as e:
        return _broken(name, module_name, e, squall.sensor)

    @squall.sensor(name)
    def _poll(config, cursor):
        service = SensorService(_pack, class_name)
        try:
            sensor = cls(sensor_service=service, config=config or {}, poll_interval=poll_interval)
            sensor.setup()
            sensor.poll()
        except Exception:
            squall.log.error(f"sensor {class_name} failed:\n{traceback.format_exc()}")
        return squall.Poll(service.events)

    return cls


# StackStorm's local-shell-cmd runner: `cmd` through a shell, its
# parameters rendered in as `{{ name }}` (the only Jinja the importer lets
# through), the result `{failed, succeeded, return_code, stdout, stderr}`.
SHELL = "/bin/sh"
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def _render(text, values):
    def value(match):
        name = match.group(1)
        if name not in values:
            raise squall.InvalidInput(f"cmd: {{{{ {name} }}}} is not a parameter of the action")
        return str(values[name])

    return _PLACEHOLDER.sub(value, text)


def _shell_stream(text):
    """StackStorm's treatment of a command's stdout or stderr: one trailing
    newline (then carriage return) cut, and JSON text parsed."""
    if text.endswith("\n"):
        text = text[:-1]
    if text.endswith("\r"):
        text = text[:-1]
    try:
        return json.loads(text)
    except ValueError:
        return text


def register_shell(name, cwd, env, timeout, declared=()):
    """Registers the Squall action `name` that runs its `cmd` parameter
    with `/bin/sh -c` through the `exec` capability, in `cwd` with `env`
    exported, killed after `timeout` seconds."""

    @squall.action(name)
    def _run(params, ctx):
        cmd = params.get("cmd")
        if not cmd:
            raise squall.InvalidInput("cmd: no command to run")
        # Every declared parameter renders, as Jinja renders None: `None`.
        values = {key: None for key in declared}
        values.update((k, v) for k, v in params.items() if k != "cmd")
        script = _render(cmd, values)
        exports = "".join(f"export {k}={shlex.quote(str(v))}; " for k, v in env.items())
        if cwd:
            exports = f"cd {shlex.quote(cwd)} && {exports}"
        out = squall.exec.run(SHELL, ["-c", exports + script], timeout_ms=int(timeout * 1000))
        code = out["status"]
        result = {
            "failed": code != 0,
            "succeeded": code == 0,
            "return_code": code,
            "stdout": _shell_stream(out["stdout"]),
            "stderr": _shell_stream(out["stderr"]),
        }
        if code == -1:
            # Killed: by its timeout, as StackStorm reports it (the failed
            # result is the error text, as for every imported action).
            result["error"] = f"Action failed to complete in {timeout} seconds"
        if code != 0:
            raise squall.Failed(json.dumps(result))
        return result

    return _run


def _positional(kind, value):
    """StackStorm's serialization of a positional script argument."""
    if kind == "boolean":
        return "" if value is None else ("1" if value else "0")
    if kind in ("array", "list"):
        return ",".join(map(str, value)) if value else ""
    if kind == "object":
        return json.dumps(value) if value else ""
    if value is None or kind == "null":
        return ""
    return str(value)


def register_script(name, argv, script, positional, types, kwarg_op, cwd, env, timeout):
    """Registers the Squall action `name` that runs a local-shell-script
    action's `script` (its text, carried in the pack) with its interpreter
    `argv` through the `exec` capability: the parameters with a position
    as positional arguments, in order, the others as `KWARG_OPname=value`
    (a true boolean as the bare flag), as StackStorm's runner passes
    them. A shell interpreter enters `cwd` and exports `env` first."""
    program, *head = argv
    shell = os.path.basename(program) in ("sh", "bash", "dash", "zsh", "ksh") or (
        head and head[0] in ("sh", "bash", "dash", "zsh", "ksh"))
    prefix = ""
    if shell:
        prefix = "".join(f"export {k}={shlex.quote(str(v))}\n" for k, v in env.items())
        if cwd:
            prefix = f"cd {shlex.quote(cwd)} || exit 1\n{prefix}"

    @squall.action(name)
    def _run(params, ctx):
        named = []
        for key, value in params.items():
            if key in positional or value is None or (isinstance(value, str) and not value):
                continue
            if isinstance(value, bool):
                if value:
                    named.append(f"{kwarg_op}{key}")
            else:
                named.append(f"{kwarg_op}{key}={value}")
        args = named + [_positional(types.get(p), params.get(p)) for p in positional]
        # A shell's $0 is the script's name; Python's sys.argv[0] is "-c".
        call = head + ["-c", prefix + script] + ([name] if shell else []) + args
        out = squall.exec.run(program, call, timeout_ms=int(timeout * 1000))
        code = out["status"]
        result = {
            "failed": code != 0,
            "succeeded": code == 0,
            "return_code": code,
            "stdout": _shell_stream(out["stdout"]),
            "stderr": _shell_stream(out["stderr"]),
        }
        if code == -1:
            result["error"] = f"Action failed to complete in {timeout} seconds"
        if code != 0:
            raise squall.Failed(json.dumps(result))
        return result

    return _run
