"""ChatOps acceptance: the real err-stackstorm 2.3.2 plugin, run in Errbot
6.2.1's test backend (errbot.backends.test.TestBot, no chat service),
against a live Squall.

run.sh sets SQUALL_URL (http://127.0.0.1:PORT), SQUALL_API_KEY (the admin
key) and ERR_STACKSTORM_DIR (the plugin's folder in the venv). The driver
creates the users and aliases it needs through the API, starts the bot with
clientside auth (each chat user ties itself to a Squall user with
`!st2session_start` and the plugin's login webhook), and checks what comes
back into the chat. Chat identities ("chat-alice") differ from Squall users
("alice") so the mapping is visible.

The aliases are the chatops example pack's (packs/chatops/aliases), so the
shipped pack is what is tested.
"""

import json
import logging
import os
import queue
import re
import sys
import time
import urllib.error
import urllib.request

BASE = os.environ["SQUALL_URL"].rstrip("/")
API_KEY = os.environ["SQUALL_API_KEY"]
PLUGIN_DIR = os.environ["ERR_STACKSTORM_DIR"]
PACK = "chatops"  # the pack the aliases belong to
PASSWORD = "chatops-acceptance-1"

# The chatops example pack (packs/chatops): its aliases are created through
# the API from the files the pack ships; its `approve` workflow asks the
# inquiry; the host's built-in chatops.list_inquiries and
# chatops.respond_inquiry answer it.
ALIAS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "packs", "chatops", "aliases")
INQUIRY_WORKFLOW = "chatops.approve"
INQUIRY_RESPONSE = '{"approved": true}'


def api(method, path, body=None, token=None, yaml_text=None):
    """One call to Squall as the admin (or with a user token); (status, JSON)."""
    headers = {"Content-Type": "application/yaml" if yaml_text else "application/json"}
    headers.update({"X-Auth-Token": token} if token else {"St2-Api-Key": API_KEY})
    data = yaml_text.encode() if yaml_text else None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(BASE + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def expect(condition, message):
    if not condition:
        raise AssertionError(message)


CHATTER_ROLE = {
    "name": "chatops_acceptance_chatter",
    "description": "May ask for alias help and matches, not run anything",
    "permission_grants": [{"permission_types": ["action_alias_match", "action_alias_help"]}],
}


def setup_server():
    """Users alice (admin) and bob (observer plus alias match/help: may talk to
    the bot, not run actions), and the aliases."""
    status, body = api("PUT", f"/api/v1/rbac/roles/{CHATTER_ROLE['name']}", CHATTER_ROLE)
    expect(status == 200, f"creating role: {status} {body}")
    for name, roles in (("alice", ["admin"]), ("bob", ["observer", CHATTER_ROLE["name"]])):
        status, body = api("POST", "/api/v1/users", {"name": name, "password": PASSWORD, "roles": roles})
        expect(status == 201, f"creating user {name}: {status} {body}")
    for name in sorted(os.listdir(ALIAS_DIR)):
        with open(os.path.join(ALIAS_DIR, name)) as file:
            status, body = api("POST", "/api/v1/actionalias", yaml_text=file.read())
        expect(status == 201, f"creating alias {name}: {status} {body}")


class Chat:
    """The bot and everything it says, with the identity each message went to."""

    def __init__(self):
        import sseclient
        from errbot.backends.test import TestBot

        self.stream_status = queue.Queue()
        connect = sseclient.SSEClient._connect

        def observed(client):  # reports each (re)connection of the plugin's stream
            try:
                connect(client)
            except Exception as error:
                self.stream_status.put(f"failed: {error}")
                raise
            self.stream_status.put((client.url, client.resp.status_code, dict(client.requests_kwargs["headers"])))

        sseclient.SSEClient._connect = observed
        self.plugin_log = []
        handler = logging.Handler()
        handler.emit = lambda record: self.plugin_log.append(record.getMessage())
        logging.getLogger("errbot.plugin.st2").addHandler(handler)
        config = {
            "BOT_ADMINS": ("chat-admin",),
            "BOT_PREFIX": "!",
            "STACKSTORM": {
                "api_url": f"{BASE}/api/v1",
                "auth_url": f"{BASE}/auth/v1",
                "stream_url": f"{BASE}/stream/v1",
                "route_key": "errbot",
                "plugin_prefix": "st2",
                "verify_cert": False,
                "timer_update": 900,
                "api_auth": {"apikey": API_KEY},
                "rbac_auth": {"clientside": {"url": "http://127.0.0.1:9/"}},
            },
        }
        level = logging.DEBUG if os.environ.get("CHATBOT_DEBUG") else logging.WARNING
        self.testbot = TestBot(extra_plugin_dir=PLUGIN_DIR, loglevel=level, extra_config=config)
        self.testbot.start(timeout=5)
        self.sent = []  # (to, body) of everything the bot sent
        send = self.testbot.bot.send_message

        def recorded(msg):
            self.sent.append((str(msg.to), msg.body))
            return send(msg)

        self.testbot.bot.send_message = recorded

    def as_user(self, chat_user):
        self.testbot.bot.sender = self.testbot.bot.build_identifier(chat_user)

    def say(self, text):
        """Sends TEXT; answers the index in self.sent where replies start."""
        start = len(self.sent)
        self.testbot.push_message(text)
        return start

    def wait(self, start, predicate, what, timeout=30):
        """The first (to, body) sent since START for which PREDICATE holds."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            for to, body in self.sent[start:]:
                if predicate(to, body):
                    return to, body
            time.sleep(0.1)
        raise AssertionError(f"no {what} within {timeout} s; the bot said: {self.sent[start:]}")

    def replies(self, text, what, predicate=lambda to, body: True, timeout=30):
        return self.wait(self.say(text), predicate, what, timeout)[1]

    def stop(self):
        self.testbot.stop()


CHECKS = []


def check(name):
    def register(function):
        CHECKS.append((name, function))
        return function

    return register


STATE = {}


@check("the plugin signs in with the API key and its stream connects")
def signs_in(chat):
    try:
        first = chat.stream_status.get(timeout=30)
    except queue.Empty:
        first = "no connection attempt succeeded or failed within 30 s"
    expect(isinstance(first, tuple), f"the stream did not connect: {first}")
    url, status, headers = first
    expect(url == f"{BASE}/stream/v1/stream", f"stream URL: {url}")
    expect(status == 200, f"stream answered {status}")
    expect(headers.get("St2-Api-Key") == API_KEY and headers.get("Accept") == "text/event-stream", headers)
    failed = [line for line in chat.plugin_log if "Failed to authenticate" in line or "error occurred" in line]
    expect(not failed, f"the plugin logged: {failed}")


@check("!st2help lists the aliases")
def help_lists(chat):
    chat.as_user("chat-alice")
    text = chat.replies("!st2help", "help", lambda to, body: "say" in body)
    expect(f"[{PACK}]" in text, f"no pack heading: {text}")
    expect("!st2 say {{message}} - Echo a message back into the chat" in text, f"say is not listed: {text}")
    expect("!st2 inquiry list - List the inquiries waiting for an answer" in text, text)
    filtered = chat.replies("!st2help --filter inquiry", "filtered help", lambda to, body: "inquiry" in body)
    expect("say {{message}}" not in filtered, f"--filter inquiry still lists say: {filtered}")


@check("a chat user without a session is told to sign in, without calling Squall")
def no_session(chat):
    chat.as_user("chat-alice")
    text = chat.replies("!st2 say hello", "refusal")
    expect("Action-Alias execution is not allowed for chat user 'chat-alice'" in text, text)
    expect("st2session_start" in text, text)


def sign_in(chat, chat_user, squall_user):
    """`!st2session_start WORD` in a direct message, then the login page's POST
    to the plugin's webhook (through Errbot's Flask app, as its webserver would)."""
    chat.as_user(chat_user)
    text = chat.replies("!st2session_start sesame", "challenge")
    found = re.search(r"uuid=([0-9a-f-]{36})", text)
    expect(found, f"no session URL: {text}")
    webserver = chat.testbot.bot.plugin_manager.get_plugin_obj_by_name("Webserver")
    answer = webserver.test_app.post_json(
        f"/login/authenticate/{found.group(1)}",
        {"shared_word": "sesame", "username": squall_user, "password": PASSWORD},
    )
    result = json.loads(answer.text)
    expect(result["authenticated"] is True and result["return_code"] == 0, f"{squall_user}: {result}")


@check("chat users tie themselves to Squall users (POST /auth/v1/tokens)")
def sessions(chat):
    sign_in(chat, "chat-alice", "alice")
    sign_in(chat, "chat-bob", "bob")


@check("!st2 say hello: acknowledged, run as alice, result announced to the chat")
def say_hello(chat):
    chat.as_user("chat-alice")
    start = chat.say("!st2 say hello")
    to, ack = chat.wait(start, lambda to, body: body.startswith("Saying it"), "ack")
    found = re.search(r"execution ([0-9a-f-]{36})", ack)
    expect(found, f"no execution id in the ack: {ack}")
    to, result = chat.wait(start, lambda to, body: body.strip() == "hello", "announced result")
    expect(to == "chat-alice", f"the result went to {to}, not the channel it was asked in")
    status, execution = api("GET", f"/api/v1/executions/{found.group(1)}")
    expect(status == 200, f"{status} {execution}")
    expect(execution["action"]["ref"] == "core.echo" and execution["parameters"] == {"message": "hello"}, execution)
    context = execution["context"]
    expect(context.get("user") == "alice", f"should run as the Squall user: {context}")
    expect(context.get("api_user") == "chat-alice", f"api_user should be the chat user: {context}")
    expect(context.get("source_channel") == "chat-alice", context)


@check("bob may not run actions: the chat shows the refusal, nothing runs")
def bob_refused(chat):
    chat.as_user("chat-bob")
    text = chat.replies("!st2 say hello", "refusal")
    # A 403 from /actionalias/match would show as "HTTPError 403 ...": bob
    # must get as far as match_and_execute, whose 403 body the bot shows as is.
    expect(not text.startswith("HTTPError"), f"refused at /actionalias/match, not at execution: {text}")
    expect("permission" in text.lower() and "bob" in text, f"not a permission refusal: {text}")
    expect(not text.startswith("Saying it"), text)
    status, executions = api("GET", "/api/v1/executions?action=core.echo&limit=100")
    expect(status == 200, executions)
    expect(all(e["context"].get("user") != "bob" for e in executions), "bob ran core.echo")


@check("unknown commands are answered with the plugin's not-found text")
def unknown(chat):
    chat.as_user("chat-alice")
    text = chat.replies("!st2 frobnicate the widgets", "not found")
    expect("st2 command 'frobnicate the widgets' not found" in text, text)


# ---- Inquiries: names are proposals (INQUIRY_* above) ----
@check(f"an inquiry from {INQUIRY_WORKFLOW} is listed and answered from the chat")
def inquiry(chat):
    status, workflow = api("POST", "/api/v1/executions",
                           {"action": INQUIRY_WORKFLOW, "parameters": {"change": "db-7"}})
    expect(status == 201, f"starting {INQUIRY_WORKFLOW}: {status} {workflow}")
    deadline = time.time() + 30
    while True:
        status, pending = api("GET", "/api/v1/inquiries")
        if status == 200 and pending:
            break
        expect(time.time() < deadline, f"no inquiry: {status} {pending}")
        time.sleep(0.2)
    inquiry_id = pending[0]["id"]
    chat.as_user("chat-alice")
    # err-stackstorm's own command: GET /api/v1/inquiries/ with alice's token.
    start = chat.say("!st2enquiry_list")
    chat.wait(start, lambda to, body: body.startswith("Enquries awaiting response: 1"), "enquiry count")
    chat.wait(start, lambda to, body: body.strip() == inquiry_id, "the inquiry id")
    # The alias for listing (no ack), its answer announced on the stream.
    start = chat.say("!st2 inquiry list")
    chat.wait(start, lambda to, body: inquiry_id in body and body.startswith("Inquiries waiting: 1\n")
              and to == "chat-alice", "the listing")
    # The answer.
    start = chat.say(f"!st2 inquiry respond {inquiry_id} {INQUIRY_RESPONSE}")
    chat.wait(start, lambda to, body: body.startswith(f"Answering inquiry {inquiry_id}"), "ack")
    chat.wait(start, lambda to, body: body.strip() == f"Inquiry {inquiry_id} answered.", "the answer's result")
    deadline = time.time() + 30
    while True:
        status, done = api("GET", f"/api/v1/executions/{workflow['id']}")
        if done.get("status") == "succeeded":
            expect(done["result"]["output"] == {"message": "Change `db-7` was approved."}, done["result"])
            break
        expect(time.time() < deadline and done.get("status") not in ("failed", "canceled"), f"workflow: {done}")
        time.sleep(0.2)


def main():
    setup_server()
    chat = Chat()
    failed = 0
    try:
        for name, function in CHECKS:
            started = time.time()
            try:
                function(chat)
            except Exception as error:  # every failure is reported, then the next check runs
                failed += 1
                print(f"FAIL {name}: {error}", flush=True)
            else:
                print(f"ok   {name} ({time.time() - started:.1f} s)", flush=True)
    finally:
        if failed or os.environ.get("CHATBOT_TRANSCRIPT"):
            print("what the bot said (to, text):", file=sys.stderr)
            for to, body in chat.sent:
                print(f"  -> {to}: {body!r}", file=sys.stderr)
        print(f"{len(CHECKS) - failed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    # The plugin's stream thread is not a daemon and leaves only after an
    # event: exit without waiting for it.
    os._exit(main())
