"""The web UI end to end in a real browser (tests/ui/run.sh starts the
server): Debian's chromium driven by Playwright, against a live `squall
serve` with the core and ops packs. Each check prints one line; the first
failure stops the run with its reason.

Throughout, every page's console errors and uncaught exceptions fail the
run, and so does any request that leaves the server's origin.
"""

import json
import sys
import time

from playwright.sync_api import expect, sync_playwright

from common import ADMIN_PASSWORD, BASE, CHROMIUM, KEY, call, ok, problems, shot, watch

FINISHED = {"succeeded", "failed", "timeout", "canceled", "abandoned"}


def run(action, parameters):
    return call("POST", "/api/v1/executions", {"action": action, "parameters": parameters})["id"]


def wait_for(id, statuses, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        e = call("GET", f"/api/v1/executions/{id}")
        if e["status"] in statuses:
            return e
        time.sleep(0.1)
    raise AssertionError(f"execution {id} is {e['status']}, not {statuses}, after {timeout} s")


def sign_in_with_password(page, user, password):
    page.goto(BASE + "/")
    expect(page).to_have_url(f"{BASE}/ui/sign-in?next=%2F")
    page.get_by_label("Username", exact=True).fill(user)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("heading", name="Executions", exact=True)).to_be_visible()


def sign_in_with_key(page, key, path):
    page.goto(BASE + path)
    page.get_by_label("API key", exact=True).fill(key)
    page.get_by_role("button", name="Sign in with the key").click()
    expect(page).to_have_url(BASE + path)


def main():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        viewport = {"width": 1280, "height": 800}

        # Signing in with a user name and password.
        before = run("core.echo", {"message": "made before the page opened"})
        wait_for(before, FINISHED)
        admin = watch(browser.new_context(viewport=viewport).new_page(), "admin")
        admin.goto(BASE + "/ui/sign-in")
        shot(admin, "sign-in")
        sign_in_with_password(admin, "admin", ADMIN_PASSWORD)
        expect(admin.locator("#user")).to_have_text("admin")
        nav = admin.get_by_role("navigation", name="Main")
        for page in ["Executions", "Actions", "Rules", "Packs", "Inquiries", "Datastore", "Audit"]:
            expect(nav.get_by_role("link", name=page, exact=True)).to_be_visible()
        ok("signed in with Username and Password; the navigation names every page")

        # The list: one made before, one made while it is open, no reload.
        row = admin.locator(f'tr[data-id="{before}"]')
        expect(row).to_be_visible()
        expect(row.get_by_role("link", name="core.echo")).to_be_visible()
        ok("the executions list shows an execution created through the API before it opened")

        # A first load asks for its data while the modules load (early.js),
        # and the page takes those answers rather than asking twice.
        asked = []

        def note(request):
            asked.append(request.url.removeprefix(BASE))

        admin.on("request", note)
        admin.goto(BASE + "/")
        expect(row).to_be_visible()
        admin.wait_for_timeout(300)
        for path in ["/api/v1/user", "/api/v1/executions?parent=null&limit=50",
                     "/api/v1/actions?include_attributes=ref"]:
            assert asked.count(path) == 1, f"{path} asked {asked.count(path)} times: {asked}"
        # early.js comes inline in the page shell, not as one more request.
        assert "/ui/assets/early.js" not in asked, f"early.js fetched: {asked}"
        admin.remove_listener("request", note)
        ok("a first load of the list asks for the user, the list and the actions once each, early, from the shell's inline script")
        admin.evaluate("window.__same_page = true")
        started = time.time()
        after = run("core.echo", {"message": "made while the page is open"})
        live = admin.locator(f'tr[data-id="{after}"]')
        expect(live).to_be_visible(timeout=5000)
        seen = time.time() - started
        assert seen < 1.0, f"the new execution took {seen:.2f} s to appear"
        expect(live.locator('[data-status="succeeded"]')).to_be_visible(timeout=5000)
        assert admin.evaluate("window.__same_page === true"), "the page was reloaded"
        ok(f"an execution created after the page opened appeared in {seen:.2f} s (under 1 s) without a reload, and its status changed live")
        assert admin.locator('tbody tr[data-id]').first.get_attribute("data-id") == after, "newest is not first"
        shot(admin, "executions")

        # Filters live in the URL; back undoes one.
        admin.get_by_label("User", exact=True).fill("nobody")
        admin.get_by_role("button", name="Filter").click()
        expect(admin).to_have_url(f"{BASE}/ui/executions?user=nobody")
        expect(admin.get_by_text("No executions match.")).to_be_visible()
        expect(admin.locator("tbody tr")).to_have_count(0)
        admin.get_by_label("User", exact=True).fill("admin")
        admin.get_by_label("Status", exact=True).select_option("succeeded")
        admin.get_by_role("button", name="Filter").click()
        expect(admin).to_have_url(f"{BASE}/ui/executions?status=succeeded&user=admin")
        expect(admin.locator("tbody tr")).to_have_count(2)
        admin.go_back()
        expect(admin.get_by_text("No executions match.")).to_be_visible()
        admin.go_back()
        expect(admin.locator("tbody tr")).to_have_count(2)
        ok("the list filters by user and status, each filtered list has its own URL, and back undoes a filter")

        # An execution's page: its own address, its result under "Result".
        row.get_by_role("link", name="core.echo").click()
        expect(admin).to_have_url(f"{BASE}/ui/executions/{before}")
        result = admin.locator("section", has=admin.get_by_role("heading", name="Result", exact=True))
        expect(result.locator("pre")).to_contain_text("made before the page opened")
        expect(result.get_by_role("button", name="Copy Result")).to_be_visible()
        expect(admin.get_by_role("button", name="Re-run")).to_be_visible()
        shot(admin, "execution")
        admin.go_back()
        expect(admin).to_have_url(f"{BASE}/")
        expect(admin.get_by_role("heading", name="Executions", exact=True)).to_be_visible()
        admin.go_forward()
        expect(admin.get_by_role("heading", name="Result", exact=True)).to_be_visible()
        ok("an execution's page has its own URL and shows its result under Result; back and forward work")

        # Re-run with edited parameters: a new execution, followed.
        admin.get_by_role("button", name="Re-run").click()
        admin.get_by_label("Parameters (JSON)").fill('{"message": "run again, edited"}')
        admin.get_by_role("button", name="Re-run with these parameters").click()
        admin.wait_for_url(lambda url: url.startswith(f"{BASE}/ui/executions/") and not url.endswith(before))
        again = admin.url.rsplit("/", 1)[1]
        expect(admin.locator("section", has=admin.get_by_role("heading", name="Result", exact=True)).locator("pre")).to_contain_text("run again, edited", timeout=10000)
        assert call("GET", f"/api/v1/executions/{again}")["parameters"] == {"message": "run again, edited"}
        ok("re-run with edited parameters starts a new execution and the page follows it")

        # A generated form runs core.echo and follows the execution.
        # By keyboard: Enter on a link; focus moves to the new page's heading.
        admin.get_by_role("navigation", name="Main").get_by_role("link", name="Actions").focus()
        admin.keyboard.press("Enter")
        expect(admin.get_by_role("heading", name="Actions", exact=True)).to_be_focused()
        assert admin.title() == "Actions · Squall", admin.title()
        admin.get_by_role("link", name="core.echo", exact=True).click()
        expect(admin).to_have_url(f"{BASE}/ui/actions/core.echo")
        admin.get_by_label("message", exact=True).fill("sent from the generated form")
        shot(admin, "action")
        admin.get_by_role("button", name="Run", exact=True).click()
        admin.wait_for_url(f"{BASE}/ui/executions/**")
        ran = admin.url.rsplit("/", 1)[1]
        assert ran not in (before, after), ran
        expect(admin.locator("h1 .status")).to_have_text("succeeded", timeout=10000)
        expect(admin.locator("section", has=admin.get_by_role("heading", name="Result", exact=True)).locator("pre")).to_contain_text("sent from the generated form")
        stored = call("GET", f"/api/v1/executions/{ran}")
        assert stored["action"]["ref"] == "core.echo" and stored["parameters"]["message"] == "sent from the generated form", stored
        ok("core.echo's generated form ran it and the page followed the execution to its result")

        # A workflow: its task graph, live, while an inquiry is answered.
        flow = run("ops.remediate", {"path": "/var/log"})
        admin.goto(f"{BASE}/ui/executions/{flow}")
        graph = admin.locator("#task-graph svg")
        expect(graph).to_be_visible()
        for task in ["plan", "ask", "clean"]:
            expect(graph.locator(f'[data-task="{task}"]')).to_be_visible()
        expect(graph.locator("path.edge")).to_have_count(2)
        ask = graph.locator('[data-task="ask"]')
        expect(ask).to_have_attribute("data-state", "pending", timeout=10000)
        expect(graph.locator('[data-task="plan"]')).to_have_attribute("data-state", "succeeded")
        expect(graph.locator('[data-task="clean"]')).to_have_attribute("data-state", "not-run")
        expect(admin.locator("h1 .status")).to_have_text("paused")
        expect(admin.get_by_role("link", name="answer it on the Inquiries page")).to_be_visible()
        log = admin.locator("section", has=admin.get_by_role("heading", name="Log", exact=True)).locator("pre")
        expect(log).to_contain_text("info  plan: /var/log is 90% full")
        shot(admin, "workflow")
        ok("a workflow's page draws its task graph (dagre) with each task's state; it waits on the inquiry, its plan task's log line on the page")

        # Answer from the Inquiries page in a second tab, signed in by key.
        other = watch(browser.new_context(viewport=viewport).new_page(), "key")
        sign_in_with_key(other, KEY, "/ui/inquiries")
        inquiry = wait_for_inquiry(flow)
        card = other.locator(f'section.inquiry[data-id="{inquiry}"]')
        expect(card).to_be_visible()
        ok("signed in with an API key")
        shot(other, "inquiries")
        # Which of the Log section's changes were lines appended (from the
        # stream) rather than a block replaced by its stored lines.
        admin.evaluate("""() => {
          window.__appended = [];
          new MutationObserver((records) => {
            for (const r of records) {
              if (r.target.dataset && r.target.dataset.execution && !r.removedNodes.length) {
                window.__appended.push(r.target.textContent);
              }
            }
          }).observe(document.querySelector("pre.logs"), { childList: true, subtree: true });
        }""")
        card.get_by_label("approved", exact=True).check()
        card.get_by_role("button", name="Answer").click()
        expect(card.get_by_role("status")).to_have_text("Answered; the workflow resumes.")
        # The first tab, never reloaded, follows the run to its end.
        expect(graph.locator('[data-task="ask"]')).to_have_attribute("data-state", "succeeded", timeout=10000)
        expect(graph.locator('[data-task="clean"]')).to_have_attribute("data-state", "succeeded", timeout=10000)
        expect(admin.locator("h1 .status")).to_have_text("succeeded", timeout=10000)
        expect(admin.get_by_role("link", name="answer it on the Inquiries page")).to_be_hidden()
        # The clean task's line came live, then with its stored log: once.
        expect(log).to_contain_text("info  clean: cleaned:")
        text = log.inner_text()
        assert text.count("clean: cleaned:") == 1 and text.count("plan: /var/log is 90% full") == 1, text
        appended = admin.evaluate("window.__appended")
        assert any("clean: cleaned:" in t for t in appended), f"the clean task's line did not come live: {appended}"
        done = call("GET", f"/api/v1/executions/{flow}")
        assert done["status"] == "succeeded" and "cleaned" in json.dumps(done["result"]), done
        link = graph.locator('a:has([data-task="clean"])').get_attribute("href")
        assert link and link.startswith("/ui/executions/"), link
        shot(admin, "workflow-done")
        ok("the inquiry was answered from the UI; the workflow resumed, its task states changed live, each task's log line shown once")
        graph.locator('a:has([data-task="clean"])').click()
        expect(admin).to_have_url(BASE + link)
        expect(admin.locator("h1")).to_contain_text("ops.clean")
        ok("a task links to its child execution")

        # On the list, a workflow's tasks show under it, live.
        admin.get_by_role("navigation", name="Main").get_by_role("link", name="Executions").click()
        later = run("ops.remediate", {"path": "/home"})
        expect(admin.locator(f'tr[data-id="{later}"]')).to_be_visible()
        admin.locator(f'tr[data-id="{later}"]').get_by_role("button", name="Tasks of ops.remediate").click()
        expect(admin.locator(f'tr[data-id="{later}"] button')).to_have_attribute("aria-expanded", "true")
        tasks = admin.locator(f'tr[data-parent="{later}"]')
        expect(tasks).to_have_count(2, timeout=10000)  # plan, then ask, which waits
        expect(tasks.nth(0)).to_contain_text("plan: ops.plan")
        expect(tasks.nth(1)).to_contain_text("ask: core.ask")
        expect(tasks.nth(1).locator('[data-status="pending"]')).to_be_visible()
        shot(admin, "executions-tasks")
        call("PUT", f"/api/v1/inquiries/{wait_for_inquiry(later)}", {"response": {"approved": True}})
        expect(tasks).to_have_count(3, timeout=10000)
        expect(tasks.nth(2)).to_contain_text("clean: ops.clean")
        expect(tasks.nth(2).locator('[data-status="succeeded"]')).to_be_visible(timeout=10000)
        expect(admin.locator(f'tr[data-id="{later}"] [data-status="succeeded"]')).to_be_visible(timeout=10000)
        admin.locator(f'tr[data-id="{later}"]').get_by_role("button", name="Tasks of ops.remediate").click()
        expect(tasks).to_have_count(0)
        ok("a workflow's tasks show under it on the list, and a new task appears there live")

        # Cancel a workflow that waits on an inquiry (the key's tab).
        doomed = run("ops.remediate", {"path": "/srv"})
        wait_for_inquiry(doomed)
        other.goto(f"{BASE}/ui/executions/{doomed}")
        expect(other.locator("h1 .status")).to_have_text("paused")
        other.get_by_role("button", name="Cancel").click()
        expect(other.locator("h1 .status")).to_have_text("canceled", timeout=10000)
        expect(other.get_by_role("button", name="Cancel")).to_have_count(0)
        assert call("GET", f"/api/v1/executions/{doomed}")["status"] == "canceled"
        ok("a waiting workflow is canceled from its page; the button goes once it ended")

        # Past the first page: Older and Newer move the offset in the URL.
        made = [run("core.noop", {}) for _ in range(53)]
        matching = call("GET", "/api/v1/executions?action=core.noop&parent=null&limit=-1&include_attributes=id")
        assert len(matching) >= 53 and matching[0]["id"] == made[-1], "the noops are not all listed"
        admin.goto(BASE + "/ui/executions?action=core.noop")
        rows = admin.locator("tbody tr[data-id]")
        expect(rows).to_have_count(50)
        assert rows.first.get_attribute("data-id") == made[-1]
        pager = admin.get_by_role("navigation", name="Pages of executions")
        expect(pager.get_by_role("link", name="Newer")).to_have_count(0)
        pager.get_by_role("link", name="Older").click()
        expect(admin).to_have_url(f"{BASE}/ui/executions?action=core.noop&offset=50")
        expect(rows).to_have_count(len(matching) - 50)
        assert [r.get_attribute("data-id") for r in rows.all()] == [e["id"] for e in matching[50:]]
        expect(pager.get_by_role("link", name="Older")).to_have_count(0)
        # A new one belongs on the first page, not this one.
        newest = run("core.noop", {})
        admin.wait_for_timeout(500)
        expect(rows).to_have_count(len(matching) - 50)
        shot(admin, "executions-older")
        admin.go_back()
        expect(admin).to_have_url(f"{BASE}/ui/executions?action=core.noop")
        expect(rows).to_have_count(50)
        admin.go_forward()
        expect(rows).to_have_count(len(matching) - 49)  # one more since: the newest pushed one down
        pager.get_by_role("link", name="Newer").click()
        expect(admin).to_have_url(f"{BASE}/ui/executions?action=core.noop")
        expect(rows.first).to_have_attribute("data-id", newest)
        ok("the executions list pages past its first 50 with Older and Newer, each page its own URL; back and forward work")

        # Signing out.
        admin.get_by_role("button", name="Sign out").click()
        expect(admin.get_by_role("heading", name="Sign in to Squall")).to_be_visible()
        admin.goto(BASE + "/ui/actions")
        expect(admin).to_have_url(f"{BASE}/ui/sign-in?next=%2Fui%2Factions")
        ok("signing out forgets the token; pages ask to sign in again")

        # An observer is offered nothing that changes anything.
        call("POST", "/api/v1/users", {"name": "watcher", "password": "watcher-password", "roles": ["observer"]})
        waiting = run("ops.remediate", {"path": "/tmp"})
        pending_inquiry = wait_for_inquiry(waiting)
        # On a phone's width: nothing wider than the screen.
        phone = {"width": 390, "height": 844}
        observer = watch(browser.new_context(viewport=phone).new_page(), "observer")
        sign_in_with_password(observer, "watcher", "watcher-password")
        forbidden = ["Run", "Cancel", "Re-run", "Pause", "Resume", "Answer"]

        def offers_nothing(where):
            for name in forbidden:
                count = observer.get_by_role("button", name=name, exact=True).count()
                assert count == 0, f"observer is offered {name} on {where}"

        expect(observer.locator(f'tr[data-id="{waiting}"]')).to_be_visible()
        offers_nothing("the executions list")
        shot(observer, "phone-executions")

        def fits(where):
            width = observer.evaluate("document.documentElement.scrollWidth")
            assert width <= phone["width"], f"{where} is {width} px wide on a {phone['width']} px screen"

        fits("the executions list")
        for id in [before, waiting]:
            observer.goto(f"{BASE}/ui/executions/{id}")
            expect(observer.locator("h1 .status")).to_be_visible()
            offers_nothing(f"execution {id}")
            fits(f"execution {id}")
        observer.goto(f"{BASE}/ui/actions/core.echo")
        expect(observer.get_by_role("heading", name="core.echo")).to_be_visible()
        expect(observer.get_by_role("heading", name="Parameter schema")).to_be_visible()
        offers_nothing("core.echo's page")
        observer.goto(f"{BASE}/ui/inquiries")
        expect(observer.locator(f'section.inquiry[data-id="{pending_inquiry}"]')).to_be_visible()
        offers_nothing("the inquiries page")
        observer.goto(f"{BASE}/ui/rules")
        expect(observer.get_by_role("heading", name="Rules")).to_be_visible()
        offers_nothing("the rules page")
        ok("an observer sees no run, cancel, re-run, pause, resume or answer controls; pages fit a phone's width")

        for page in [admin, other, observer]:
            page.wait_for_timeout(200)
        browser.close()

    assert not problems, "\n".join(problems)
    ok("no console errors, and no request left the server's origin")


def wait_for_inquiry(workflow, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        for inquiry in call("GET", "/api/v1/inquiries"):
            if inquiry.get("workflow") == workflow:
                return inquiry["id"]
        time.sleep(0.1)
    raise AssertionError(f"workflow {workflow} asked nothing within {timeout} s")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print(f"FAILED: {e}", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        sys.exit(1)
