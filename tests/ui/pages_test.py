"""The web UI's Rules, Packs, Datastore and Audit pages in a real browser
(tests/ui/run.sh starts the server and runs this after ui_test.py): a rule
created with a deliberate error, the server's refusal shown at the field
and line it names, fixed, saved, edited, disabled and enabled, and the
trigger instance it matched; the core and ops packs with their versions; a
secret key set and never shown, then deleted; the rule's creation in the
audit log, filtered; and an observer offered none of these controls on a
phone's width. Each check prints one line; the first failure stops the run.

Throughout, console errors and uncaught exceptions fail the run (but for
the one refusal the test provokes), and so does any request that leaves
the server's origin. It shares common.py with ui_test.py.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error

from playwright.sync_api import expect, sync_playwright

from common import ADMIN_PASSWORD, BASE, CHROMIUM, KEY, call, ok, problems, shot
from common import expected as refusals
from common import watch as watch_page

RULE = "default.greet_ui"
SECRET = "never-in-the-page-7f3a9c"
SQUALL = os.environ.get("SQUALL_BIN", "target/debug/squall")
PACKS = os.environ.get("PACKS", "packs/target/wasm32-wasip2/release")
REGISTRY = os.environ["REGISTRY"]  # the one `squall serve --registry` names


RULE_WITH_ERROR = """name: greet_ui
pack: default
description: Greets whoever the greet_ui webhook names
enabled: true
trigger:
  type: core.webhook
  parameters:
    url: greet_ui
criteria:
  trigger.body.name:
    type: sortof
    pattern: world
action:
  ref: core.echo
  parameters:
    message: "hello {{ trigger.body.name }}"
"""
ERROR_LINE = 11  # `    type: sortof`


def status_of(method, path):
    try:
        call(method, path)
        return 200
    except urllib.error.HTTPError as e:
        return e.code


def watch(page, name):
    """The common watch; the refusal of the rule the test sends with an
    error on purpose is noted apart."""
    return watch_page(
        page,
        name,
        provoked=lambda text, where: where == BASE + "/api/v1/rules" and "status of 422" in text,
    )


def sign_in_with_password(page, user, password):
    page.goto(BASE + "/ui/sign-in")
    page.get_by_label("Username", exact=True).fill(user)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("heading", name="Executions", exact=True)).to_be_visible()


def nothing_stray(page, where):
    """No `null` or `undefined` drawn as text (a missing value)."""
    text = page.locator("main").inner_text()
    for word in ["null", "undefined", "NaN", "[object Object]"]:
        assert word not in text.split(), f"{where} shows {word!r}"


def open_section(page, name):
    page.get_by_role("navigation", name="Main").get_by_role("link", name=name, exact=True).click()
    expect(page.get_by_role("heading", name=name, exact=True)).to_be_visible()
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name=name, exact=True)).to_have_attribute("aria-current", "page")


def rules(admin):
    open_section(admin, "Rules")
    expect(admin).to_have_url(BASE + "/ui/rules")
    admin.get_by_role("link", name="New rule").click()
    expect(admin).to_have_url(BASE + "/ui/rules/new")
    source = admin.get_by_label("Rule (YAML or JSON)")
    source.fill(RULE_WITH_ERROR)
    admin.get_by_role("button", name="Create rule").click()
    problem = admin.locator("#rule-error")
    expect(problem).to_be_visible()
    expect(problem).to_contain_text(f"Line {ERROR_LINE}, field criteria.trigger.body.name.type:")
    expect(problem).to_contain_text("expected an operator")
    expect(problem.locator(f'pre[data-line="{ERROR_LINE}"]')).to_contain_text("type: sortof")
    expect(source).to_have_attribute("aria-invalid", "true")
    expect(source).to_be_focused()
    assert admin.evaluate("document.getElementById('rule-source').getAttribute('aria-describedby')") == "rule-hint rule-error"
    selected = admin.evaluate("(() => { const t = document.getElementById('rule-source'); return t.value.slice(t.selectionStart, t.selectionEnd); })()")
    assert selected == "    type: sortof", f"the selection is {selected!r}"
    assert status_of("GET", f"/api/v1/rules/{RULE}") == 404, "a refused rule was stored"
    ok(f"a rule with an unknown criteria operator is refused; the server's error is shown under the text at line {ERROR_LINE}, naming the field, and that line is selected")
    shot(admin, "rule-error")

    source.fill(RULE_WITH_ERROR.replace("type: sortof", "type: equals"))
    expect(source).not_to_have_attribute("aria-invalid", "true")
    admin.get_by_role("button", name="Create rule").click()
    expect(admin).to_have_url(f"{BASE}/ui/rules/{RULE}")
    expect(admin.get_by_role("heading", name=RULE, exact=True)).to_be_visible()
    definition = admin.locator("section", has=admin.get_by_role("heading", name="Definition", exact=True))
    expect(definition.locator("pre")).to_contain_text("type: equals")
    stored = call("GET", f"/api/v1/rules/{RULE}")
    assert stored["enabled"] is True and stored["criteria"]["trigger.body.name"]["type"] == "equals", stored
    ok("fixed and saved: the rule's page shows its definition as written")

    # Edit it: the text comes back as stored; a save replaces it.
    admin.get_by_role("link", name="Edit", exact=True).click()
    expect(admin).to_have_url(f"{BASE}/ui/rules/{RULE}/edit")
    source = admin.get_by_label("Rule (YAML or JSON)")
    expect(source).to_have_value(stored["source"])
    source.fill(stored["source"].replace("Greets whoever", "Says hello to whoever"))
    admin.get_by_role("button", name="Save rule").click()
    expect(admin).to_have_url(f"{BASE}/ui/rules/{RULE}")
    expect(admin.locator("dl.facts")).to_contain_text("Says hello to whoever")
    ok("edited: the saved text replaced the rule")

    # The trigger instances it matched.
    call("POST", "/api/v1/webhooks/greet_ui", {"name": "world"})
    deadline = time.time() + 10
    while not call("GET", f"/api/v1/ruleenforcements?rule_ref={RULE}") and time.time() < deadline:
        time.sleep(0.1)
    admin.reload()
    matched = admin.locator("#enforcements tbody tr")
    expect(matched).to_have_count(1)
    matched.get_by_role("link", name="its execution").click()
    expect(admin.locator("h1")).to_contain_text("core.echo")
    expect(admin.locator("h1 .status")).to_have_text("succeeded", timeout=10000)
    expect(admin.locator("dl.facts")).to_contain_text(f"rule {RULE}")
    ok("the rule's page lists the trigger instance it matched, linked to the execution it started")

    # The list: disable and enable in place.
    open_section(admin, "Rules")
    row = admin.locator(f'tr[data-ref="{RULE}"]')
    expect(row.get_by_role("link", name=RULE)).to_be_visible()
    expect(row.locator('[data-state="enabled"]')).to_be_visible()
    expect(row.get_by_role("cell", name="core.webhook")).to_be_visible()
    expect(row.get_by_role("link", name="core.echo")).to_be_visible()
    nothing_stray(admin, "the rules list")
    shot(admin, "rules")
    row.get_by_role("button", name=f"Disable {RULE}").click()
    expect(row.locator('[data-state="disabled"]')).to_be_visible()
    assert call("GET", f"/api/v1/rules/{RULE}")["enabled"] is False
    row.get_by_role("button", name=f"Enable {RULE}").click()
    expect(row.locator('[data-state="enabled"]')).to_be_visible()
    assert call("GET", f"/api/v1/rules/{RULE}")["enabled"] is True
    ok("the rules list shows the rule with its trigger and action; disable and enable take effect on the server")


def packs(admin):
    open_section(admin, "Packs")
    for pack in call("GET", "/api/v1/packs"):
        if pack["name"] in ("core", "ops"):
            row = admin.locator(f'tr[data-pack="{pack["name"]}"]')
            expect(row.get_by_role("link", name=pack["name"], exact=True)).to_be_visible()
            expect(row.locator("td[data-version]")).to_have_text(pack["version"])
    expect(admin.locator('tr[data-pack="core"]')).to_have_count(1)
    expect(admin.locator('tr[data-pack="ops"]')).to_have_count(1)
    nothing_stray(admin, "the packs page")

    # Install github from a signed bundle, reviewing what it requests.
    scratch = tempfile.mkdtemp()
    key, bundle = os.path.join(scratch, "ui"), os.path.join(scratch, "github-0.1.0.wasm")
    subprocess.run([SQUALL, "pack", "keygen", key], check=True, capture_output=True)
    subprocess.run([SQUALL, "pack", "build", "packs/github", "--component", f"{PACKS}/squall_pack_github.wasm",
                    "--sign", f"{key}.key", "-o", bundle], check=True, capture_output=True)
    with open(f"{key}.pub", "rb") as public:
        call("POST", "/api/v1/trust", {"name": "ui-test", "public_key": public.read().hex()})
    admin.get_by_label("Bundle (.wasm)").set_input_files(bundle)
    expect(admin.get_by_role("heading", name="Review: github 0.1.0")).to_be_visible()
    grant = admin.get_by_label("secret=github_webhook_secret", exact=True)
    expect(grant).not_to_be_checked()
    shot(admin, "pack-review")
    grant.check()
    admin.get_by_role("button", name="Install github 0.1.0").click()
    expect(admin.get_by_role("status")).to_contain_text("Installed github 0.1.0, signed by ui-test")
    expect(admin.locator("[data-granted]")).to_have_text("secret=github_webhook_secret")
    row = admin.locator('tr[data-pack="github"]')
    expect(row.locator("td[data-version]")).to_have_text("0.1.0")
    expect(row).to_contain_text("secret=github_webhook_secret")
    installed = call("GET", "/api/v1/packs/github")
    assert installed["signer"] == "ui-test" and installed["grants"]["secrets"] == ["github_webhook_secret"], installed
    ok("a signed bundle uploaded on the packs page: its requested capability reviewed, granted, installed")

    # Upgrade github from the registry the server may pull from: 0.2.0,
    # which also asks for kv, pushed signed with `squall pack push`,
    # reviewed, only the secret granted.
    source = os.path.join(scratch, "github")
    shutil.copytree("packs/github", source)
    with open(os.path.join(source, "pack.toml")) as f:
        manifest = f.read()
    manifest = manifest.replace('version = "0.1.0"', 'version = "0.2.0"', 1).replace("[capabilities]\n", "[capabilities]\nkv = true\n", 1)
    with open(os.path.join(source, "pack.toml"), "w") as f:
        f.write(manifest)
    pushed = os.path.join(scratch, "github-0.2.0.wasm")
    subprocess.run([SQUALL, "pack", "build", source, "--component", f"{PACKS}/squall_pack_github.wasm",
                    "--sign", f"{key}.key", "-o", pushed], check=True, capture_output=True)
    subprocess.run([SQUALL, "pack", "push", pushed, f"{REGISTRY}/github:0.2.0"], check=True, capture_output=True)
    assert call("GET", "/api/v1/registries") == {"registries": [REGISTRY]}
    form = admin.get_by_role("form", name="Install from a registry")
    expect(form.get_by_label("Registry", exact=True)).to_have_count(0)  # only one: no choice
    form.get_by_label("Pack", exact=True).fill("github@0.2.0")
    form.get_by_role("button", name="Review").click()
    expect(form.get_by_role("heading", name="Review: github 0.2.0")).to_be_visible()
    expect(form).to_contain_text("Signed by ui-test")
    secret, kv = form.get_by_label("secret=github_webhook_secret", exact=True), form.get_by_label("kv", exact=True)
    expect(secret).not_to_be_checked()
    expect(kv).not_to_be_checked()
    assert call("GET", "/api/v1/packs/github")["version"] == "0.1.0", "the review installed github 0.2.0"
    shot(admin, "pack-registry-review")
    secret.check()
    form.get_by_role("button", name="Install github 0.2.0").click()
    expect(form.get_by_role("status")).to_contain_text("Upgraded github from 0.1.0 to 0.2.0, signed by ui-test")
    expect(form.locator("[data-granted]")).to_have_text("secret=github_webhook_secret")
    expect(row.locator("td[data-version]")).to_have_text("0.2.0")
    installed = call("GET", "/api/v1/packs/github")
    assert installed["requested"] == ["secret=github_webhook_secret", "kv"], installed
    assert installed["grants"]["secrets"] == ["github_webhook_secret"] and not installed["grants"].get("kv"), installed
    shutil.rmtree(scratch)
    ok("a signed pack pushed to the registry upgraded from the packs page by name@version: reviewed, one of its two requests granted")
    shot(admin, "packs")
    admin.locator('tr[data-pack="ops"]').get_by_role("link", name="ops", exact=True).click()
    expect(admin).to_have_url(BASE + "/ui/packs/ops")
    expect(admin.get_by_role("heading", name="ops", exact=True)).to_be_visible()
    workflows = admin.get_by_role("region", name="Workflows")
    expect(workflows.get_by_role("link", name="ops.remediate")).to_be_visible()
    expect(admin.get_by_role("region", name="Actions").get_by_role("link", name="ops.plan")).to_be_visible()
    expect(admin.locator("dl.facts")).to_contain_text("Granted")
    nothing_stray(admin, "ops's page")
    ok("the packs page lists core and ops with their versions; a pack's page its actions and workflows")


def datastore(admin):
    open_section(admin, "Datastore")
    admin.get_by_label("Name", exact=True).fill("ui_plain")
    admin.get_by_label("Value", exact=True).fill("plain-value")
    admin.get_by_role("button", name="Set", exact=True).click()
    expect(admin.locator('tr[data-key="system:ui_plain"]')).to_contain_text("plain-value")
    admin.get_by_label("Name", exact=True).fill("ui_secret")
    admin.get_by_label("Secret", exact=True).check()
    expect(admin.get_by_label("Value", exact=True)).to_have_attribute("type", "password")
    admin.get_by_label("Value", exact=True).fill(SECRET)
    admin.get_by_role("button", name="Set", exact=True).click()
    row = admin.locator('tr[data-key="system:ui_secret"]')
    expect(row.locator('[data-secret="true"]')).to_be_visible()
    expect(admin.get_by_role("status")).to_have_text("Set system:ui_secret (secret).")
    expect(admin.get_by_label("Value", exact=True)).to_have_value("")
    assert SECRET not in admin.content(), "the secret is in the page's HTML after setting it"
    assert call("GET", "/api/v1/keys/ui_secret")["value"] == "********"
    admin.reload()
    expect(row.locator('[data-secret="true"]')).to_be_visible()
    assert SECRET not in admin.content(), "the secret is in the page's HTML"
    nothing_stray(admin, "the datastore page")
    shot(admin, "datastore")
    ok("a secret key set from the page is masked there (its value nowhere in the HTML) and stored as a secret")
    row.get_by_role("button", name="Delete system:ui_secret").click()
    expect(row).to_have_count(0)
    assert status_of("GET", "/api/v1/keys/ui_secret") == 404
    admin.locator('tr[data-key="system:ui_plain"]').get_by_role("button", name="Delete system:ui_plain").click()
    expect(admin.locator('tr[data-key="system:ui_plain"]')).to_have_count(0)
    ok("deleted from the page, the keys are gone from the server")


def audit(admin):
    open_section(admin, "Audit")
    created = admin.locator('tr[data-action="rule.create"]', has_text=RULE)
    expect(created).to_have_count(1)
    expect(created).to_contain_text("admin")
    first = admin.locator("#audit tbody tr").first
    expect(first).to_have_attribute("data-action", "key.delete")  # the newest: the last key deleted
    nothing_stray(admin, "the audit page")
    shot(admin, "audit")
    admin.get_by_label("Action", exact=True).fill("rule.create")
    admin.get_by_role("button", name="Filter").click()
    expect(admin).to_have_url(BASE + "/ui/audit?action=rule.create")
    expect(admin.locator("#audit tbody tr")).to_have_count(1)
    admin.get_by_label("Actor", exact=True).fill("nobody")
    admin.get_by_role("button", name="Filter").click()
    expect(admin).to_have_url(BASE + "/ui/audit?action=rule.create&actor=nobody")
    expect(admin.get_by_text("No events match.")).to_be_visible()
    admin.go_back()
    expect(admin.locator("#audit tbody tr")).to_have_count(1)
    # A user's events through any of their keys and tokens.
    admin.get_by_label("Action", exact=True).fill("")
    admin.get_by_label("Actor", exact=True).fill("admin")
    admin.get_by_role("button", name="Filter").click()
    expect(admin).to_have_url(BASE + "/ui/audit?actor=admin")
    expect(admin.locator("#audit tbody tr").first).to_have_attribute("data-action", "key.delete")
    actors = admin.locator("#audit tbody td:nth-child(2)").all_inner_texts()
    assert len(actors) > 1 and all(a == "admin" or a.startswith("admin (") for a in actors), actors
    ok("the audit log shows the rule's creation by admin, newest first, filtered by action and actor (a user through any key or token) in the URL")

    # Past the first 50, paged on the server: Older and Newer in the URL.
    for n in range(52):
        call("PUT", "/api/v1/keys/ui_paging", {"value": str(n)})
    sets = call("GET", "/api/v1/audit?sort_desc=true&action=key.set&limit=1000")
    admin.goto(BASE + "/ui/audit?action=key.set")
    rows = admin.locator("#audit tbody tr")
    expect(rows).to_have_count(50)
    expect(rows.first).to_have_attribute("data-seq", str(sets[0]["seq"]))
    pager = admin.get_by_role("navigation", name="Pages of the audit log")
    expect(pager.get_by_role("link", name="Newer")).to_have_count(0)
    pager.get_by_role("link", name="Older").click()
    expect(admin).to_have_url(BASE + "/ui/audit?action=key.set&offset=50")
    expect(rows).to_have_count(len(sets) - 50)
    assert [r.get_attribute("data-seq") for r in rows.all()] == [str(e["seq"]) for e in sets[50:]]
    expect(pager.get_by_role("link", name="Older")).to_have_count(0)
    pager.get_by_role("link", name="Newer").click()
    expect(admin).to_have_url(BASE + "/ui/audit?action=key.set")
    expect(rows).to_have_count(50)
    ok("the audit log pages past its first 50 events with Older and Newer, read from the server a page at a time")


def observer_sees_no_controls(browser):
    call("POST", "/api/v1/users", {"name": "looker", "password": "looker-password", "roles": ["observer"]})
    call("PUT", "/api/v1/keys/ui_left", {"value": "for the observer"})
    phone = {"width": 390, "height": 844}
    page = watch(browser.new_context(viewport=phone).new_page(), "observer")
    sign_in_with_password(page, "looker", "looker-password")
    forbidden = ["New rule", "Edit", "Enable", "Disable", "Delete", "Create rule", "Save rule", "Set", "Install"]

    def offers_nothing(where):
        for name in forbidden:
            for role in ["button", "link"]:
                count = page.get_by_role(role, name=re.compile(rf"^{name}\b")).count()
                assert count == 0, f"observer is offered {role} {name} on {where}"
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= phone["width"], f"{where} is {width} px wide on a {phone['width']} px screen"

    page.goto(BASE + "/ui/rules")
    expect(page.locator(f'tr[data-ref="{RULE}"]')).to_be_visible()
    offers_nothing("the rules list")
    page.goto(f"{BASE}/ui/rules/{RULE}")
    expect(page.get_by_role("heading", name="Definition")).to_be_visible()
    offers_nothing("the rule's page")
    page.goto(BASE + "/ui/rules/new")
    expect(page.get_by_text("You may not create rules.")).to_be_visible()
    expect(page.get_by_label("Rule (YAML or JSON)")).to_have_count(0)
    offers_nothing("the new rule page")
    page.goto(BASE + "/ui/packs")
    expect(page.locator('tr[data-pack="core"]')).to_be_visible()
    expect(page.get_by_label("Bundle (.wasm)")).to_have_count(0)
    expect(page.get_by_label("Pack", exact=True)).to_have_count(0)
    offers_nothing("the packs page")
    page.goto(BASE + "/ui/packs/core")
    expect(page.get_by_role("heading", name="core", exact=True)).to_be_visible()
    offers_nothing("core's page")
    page.goto(BASE + "/ui/datastore")
    expect(page.locator('tr[data-key="system:ui_left"]')).to_be_visible()
    expect(page.get_by_label("Value", exact=True)).to_have_count(0)
    offers_nothing("the datastore page")
    page.goto(BASE + "/ui/audit")
    expect(page.get_by_role("heading", name="Audit", exact=True)).to_be_visible()
    offers_nothing("the audit page")
    call("DELETE", "/api/v1/keys/ui_left")
    ok("an observer sees the rules, packs, datastore and audit pages with no create, edit, enable, disable, delete or set controls, on a phone's width")
    return page


def main():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        admin = watch(browser.new_context(viewport={"width": 1280, "height": 800}).new_page(), "admin")
        sign_in_with_password(admin, "admin", ADMIN_PASSWORD)
        rules(admin)
        packs(admin)
        datastore(admin)
        audit(admin)
        observer = observer_sees_no_controls(browser)
        for page in [admin, observer]:
            page.wait_for_timeout(200)
        browser.close()

    assert len(refusals) == 1, f"expected the console to note the one refused rule, got {refusals}"
    assert not problems, "\n".join(problems)
    ok("no console errors but the refusal provoked, and no request left the server's origin")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print(f"FAILED: {e}", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        sys.exit(1)
