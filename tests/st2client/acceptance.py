"""StackStorm's clients against a live Squall: the `st2` CLI (with `-j`)
and st2client's Python library, checked on what they answer.

run.sh sets the environment (ST2_API_URL, ST2_AUTH_URL, ST2_STREAM_URL,
ST2_API_KEY, ADMIN_PASSWORD, a HOME of its own) and starts the server with
the core and github packs. Every check is on content: an empty list where
items exist fails.
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request

CHECKS = []


def st2(*args, env=None, ok=True):
    """Runs `st2 ARGS -j`; answers the parsed JSON (or the text)."""
    run = subprocess.run(
        ["st2", *args, "-j"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env or os.environ,
    )
    if ok and run.returncode != 0:
        raise AssertionError(f"st2 {' '.join(args)} exited {run.returncode}: {run.stdout}{run.stderr}")
    text = run.stdout.strip()
    if text.startswith("ERROR") or "ERROR:" in run.stderr:
        if ok:
            raise AssertionError(f"st2 {' '.join(args)}: {text}{run.stderr}")
    try:
        return json.loads(text)
    except ValueError:
        return text


def check(name):
    def register(function):
        CHECKS.append((name, function))
        return function

    return register


def expect(condition, message):
    if not condition:
        raise AssertionError(message)


def refs(items, key="ref"):
    return [item.get(key) for item in items]


def wait_finished(execution_id):
    deadline = time.time() + 30
    while True:
        execution = st2("execution", "get", execution_id)
        if execution["status"] in ("succeeded", "failed", "timeout", "canceled", "abandoned"):
            return execution
        expect(time.time() < deadline, f"execution {execution_id} stuck: {execution}")
        time.sleep(0.2)


def post(path, body):
    request = urllib.request.Request(
        os.environ["ST2_API_URL"] + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "St2-Api-Key": os.environ["ST2_API_KEY"]},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, json.loads(response.read() or b"null")


STATE = {}


@check("st2 action list|get")
def actions():
    listed = st2("action", "list")
    expect("core.echo" in refs(listed), f"core.echo not listed: {listed}")
    # The packs' actions and the host's built-ins (core.ask, chatops.*).
    expect(all(a["pack"] in ("core", "github", "chatops") for a in listed), listed)
    expect("chatops.post_message" in refs(listed), f"chatops.post_message not listed: {listed}")
    echo = st2("action", "get", "core.echo")
    expect(echo["ref"] == "core.echo" and echo["pack"] == "core", echo)
    expect(echo["runner_type"] == "wasm", echo)
    expect(echo["parameters"]["message"]["type"] == "string", echo)
    expect(echo["parameters"]["message"]["required"] is True, echo)


@check("st2 run core.echo message=hi")
def run():
    execution = st2("run", "core.echo", "message=hi")
    expect(execution["status"] == "succeeded", execution)
    expect(execution["result"] == {"message": "hi"}, execution)
    expect(execution["parameters"] == {"message": "hi"}, execution)
    STATE["execution"] = execution["id"]


@check("st2 execution list|get|tail|cancel|re-run")
def executions():
    listed = st2("execution", "list")
    mine = [e for e in listed if e["id"] == STATE["execution"]]
    expect(len(mine) == 1, f"the execution is not listed: {listed}")
    expect(mine[0]["action"]["ref"] == "core.echo", mine)
    expect(mine[0]["context"]["user"] == "admin", mine)
    expect(mine[0]["status"].startswith("succeeded"), mine)
    got = st2("execution", "get", STATE["execution"])
    expect(got["result"] == {"message": "hi"} and got["status"] == "succeeded", got)
    expect(got["start_timestamp"] and got["end_timestamp"], got)
    # tail of a finished execution: its output (text), then its end.
    tail = st2("execution", "tail", STATE["execution"])
    expect(f"Execution {STATE['execution']} has completed (status=succeeded)" in str(tail), tail)
    # tail of a running one: StackStorm's stream until it ends.
    started = st2("run", "-a", "core.sleep", "seconds=2")
    running = re.search(r"st2 execution get ([0-9a-f-]{36})", str(started)).group(1)
    tail = st2("execution", "tail", running)
    expect(f"Execution {running} has completed (status=succeeded)" in str(tail), tail)
    # run -a, then cancel.
    started = st2("run", "-a", "core.sleep", "seconds=30")
    sleeping = re.search(r"st2 execution get ([0-9a-f-]{36})", str(started)).group(1)
    canceled = st2("execution", "cancel", sleeping)
    expect(f"{sleeping} canceled" in str(canceled), canceled)
    expect(wait_finished(sleeping)["status"] == "canceled", "the cancel did not stick")
    again = st2("execution", "re-run", STATE["execution"], "message=again")
    expect(again["id"] != STATE["execution"], again)
    done = wait_finished(again["id"])
    expect(done["result"] == {"message": "again"}, done)


RULE = """\
name: hello
pack: examples
description: Echo who said hello
enabled: true
trigger:
  type: core.st2.webhook
  parameters:
    url: hello
criteria:
  trigger.body.name:
    type: equals
    pattern: bob
action:
  ref: core.echo
  parameters:
    message: "hello {{ trigger.body.name }}"
"""


@check("st2 rule create|list|get|disable|enable, webhook list, trigger-instance list, rule-enforcement list, rule delete")
def rules():
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as file:
        file.write(RULE)
    created = st2("rule", "create", file.name)
    expect(created["ref"] == "examples.hello" and created["enabled"] is True, created)
    listed = st2("rule", "list")
    expect(refs(listed) == ["examples.hello"], listed)
    got = st2("rule", "get", "examples.hello")
    expect(got["trigger"]["type"] == "core.st2.webhook", got)
    expect(got["action"]["ref"] == "core.echo", got)
    disabled = st2("rule", "disable", "examples.hello")
    expect(disabled["enabled"] is False, disabled)
    expect(st2("rule", "get", "examples.hello")["enabled"] is False, "disable did not stick")
    enabled = st2("rule", "enable", "examples.hello")
    expect(enabled["enabled"] is True, enabled)

    hooks = st2("webhook", "list")
    expect("hello" in [h["url"] for h in hooks], f"webhook hello not listed: {hooks}")
    status, fired = post("/webhooks/hello", {"name": "bob"})
    expect(status == 202 and len(fired["executions"]) == 1, fired)
    done = wait_finished(fired["executions"][0])
    expect(done["result"] == {"message": "hello bob"}, done)

    instances = st2("trigger-instance", "list")
    mine = [i for i in instances if i["id"] == fired["trigger_instances"][0]]
    expect(len(mine) == 1 and mine[0]["trigger"] == "core.webhook", instances)
    enforcements = st2("rule-enforcement", "list")
    expect(len(enforcements) >= 1, f"no rule enforcements: {enforcements}")
    expect(enforcements[0]["rule"]["ref"] == "examples.hello", enforcements)
    expect(enforcements[0]["execution_id"] == fired["executions"][0], enforcements)

    deleted = st2("rule", "delete", "examples.hello")
    expect("deleted" in str(deleted), deleted)
    expect(st2("rule", "list") in ("No matching items found", []), "the rule is still listed")


@check("st2 key set|get|list|delete, --encrypt, get --decrypt")
def keys():
    st2("key", "set", "greeting", "hello")
    got = st2("key", "get", "greeting")
    expect(got["name"] == "greeting" and got["value"] == "hello", got)
    secret = st2("key", "set", "password", "hunter2", "--encrypt")
    expect(secret["value"] != "hunter2", f"a secret was shown: {secret}")
    # Squall never shows a stored secret, --decrypt or not (docs/st2-api.md).
    decrypted = st2("key", "get", "password", "--decrypt")
    expect(decrypted["secret"] is True and decrypted["value"] == "********", decrypted)
    listed = st2("key", "list")
    expect(sorted(k["name"] for k in listed) == ["greeting", "password"], listed)
    expect("hunter2" not in json.dumps(listed), "a secret was listed")
    st2("key", "delete", "greeting")
    expect([k["name"] for k in st2("key", "list")] == ["password"], "greeting was not deleted")


@check("st2 trigger list, sensor list, pack list, apikey list")
def catalog():
    triggers = st2("trigger", "list")
    expect({"core.webhook", "github.push"} <= set(refs(triggers)), triggers)
    sensors = st2("sensor", "list")
    expect(refs(sensors) == ["github.webhook"], sensors)
    expect(sensors[0]["enabled"] is True, sensors)
    packs = st2("pack", "list")
    expect(sorted(refs(packs)) == ["core", "github"], packs)
    apikeys = st2("apikey", "list")
    expect(len(apikeys) >= 1 and all(k["user"] == "admin" for k in apikeys), apikeys)
    expect("key" not in json.dumps(apikeys).replace("apikey", ""), apikeys)


@check("st2 run -a core.ask, inquiry list|respond")
def inquiries():
    # `run -a` answers text, naming the execution: `st2 execution get ID`.
    asked = st2("run", "-a", "core.ask")
    found = re.search(r"st2 execution get ([0-9a-f-]{36})", str(asked))
    expect(found, f"no execution id: {asked}")
    execution = found.group(1)
    deadline = time.time() + 30
    while True:
        listed = st2("inquiry", "list")
        if isinstance(listed, list) and execution in [i["id"] for i in listed]:
            break
        expect(time.time() < deadline, f"the inquiry is not listed: {listed}")
        time.sleep(0.2)
    inquiry = st2("inquiry", "get", execution)
    expect(inquiry["id"] == execution and inquiry["ttl"] > 0, inquiry)
    answered = subprocess.run(
        ["st2", "inquiry", "respond", execution, "-r", '{"continue": true}'],
        capture_output=True,
        text=True,
        timeout=60,
    )
    expect(f"Response accepted for inquiry {execution}" in answered.stdout, answered.stdout + answered.stderr)
    done = wait_finished(execution)
    expect(done["status"] == "succeeded", done)
    expect(execution not in [i["id"] for i in st2("inquiry", "list") or []], "still pending")


@check("st2 auth, st2 login")
def auth():
    password = os.environ["ADMIN_PASSWORD"]
    token = st2("auth", "admin", "-p", password)
    expect(token["user"] == "admin" and token["token"], token)
    keyless = {k: v for k, v in os.environ.items() if k != "ST2_API_KEY"}
    refused = subprocess.run(["st2", "action", "list", "-j"], capture_output=True, text=True, env=keyless)
    expect("core.echo" not in refused.stdout, "listed actions without credentials")
    login = subprocess.run(["st2", "login", "admin", "-p", password], capture_output=True, text=True, env=keyless)
    expect("Logged in as admin" in login.stdout, login.stdout + login.stderr)
    listed = st2("action", "list", env=keyless)
    expect("core.echo" in refs(listed), listed)


@check("st2client: Client().executions.query, keys.get_by_name")
def library():
    from st2client.client import Client

    client = Client(
        api_url=os.environ["ST2_API_URL"],
        auth_url=os.environ["ST2_AUTH_URL"],
        stream_url=os.environ["ST2_STREAM_URL"],
        api_key=os.environ["ST2_API_KEY"],
    )
    executions = client.executions.query(action="core.echo", limit=10)
    expect(len(executions) >= 3, f"expected the echo runs: {executions}")
    expect(all(e.action["ref"] == "core.echo" for e in executions), executions)
    expect(STATE["execution"] in [e.id for e in executions], "the first run is missing")
    key = client.keys.get_by_name("password")
    expect(key is not None and key.secret is True and key.value == "********", key)
    # st2client answers a 404 here with an empty list.
    expect(not client.keys.get_by_name("greeting"), "a deleted key was found")


def main():
    failed = 0
    for name, function in CHECKS:
        started = time.time()
        try:
            function()
        except Exception as error:  # every failure is reported, then the next check runs
            failed += 1
            print(f"FAIL {name}: {error}")
        else:
            print(f"ok   {name} ({time.time() - started:.1f} s)")
    print(f"{len(CHECKS) - failed} of {len(CHECKS)} passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
