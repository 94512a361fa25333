"""The website widget in a real browser: Debian's chromium, driven by Playwright, against the
real Rasa server, action server, adviser API and web app started by the test run.

What a parent does (ask, quick reply, feedback, adviser, reload, dropped connection), the same
with the keyboard only, an axe-core audit (WCAG 2.2 AA rules), layout at 320 px and 200% zoom,
and script or HTML in anyone's text staying inert.
"""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from bot.assistant import service
from bot.cases.store import CaseStore
from bot.ops.servers import Servers
from tests.helpers.adviser_client import call_adviser_api
from tests.helpers.ports import free_ports

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "sen-assistant.tar.gz"
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
RASA_PORT, ACTIONS_PORT, ADVISER_PORT, WEB_PORT = free_ports(4)
WAIT = 20_000  # ms: a first answer includes the action server's first call

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    assert MODEL.exists(), "Train first: `make train` (make test does this)."
    assert AXE.exists(), "Run `npm ci` (make test does this)."
    data_dir = tmp_path_factory.mktemp("widget")
    servers = Servers(
        MODEL, RASA_PORT, ACTIONS_PORT, ADVISER_PORT, web_port=WEB_PORT, data_dir=data_dir,
        extra_env={"SEN_OPENING_HOURS": "Mon-Sun 00:00-23:59"},
    )  # fmt: skip
    servers.store = CaseStore(f"sqlite:///{data_dir / 'handoff.db'}")
    servers.adviser_token = servers.store.add_adviser("sam", "Sam")
    with servers:
        yield servers


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


# --- helpers -----------------------------------------------------------------------------------
def api(servers, method: str, path: str, body: dict | None = None) -> dict:
    status, answer = call_adviser_api(
        servers.adviser_url, servers.adviser_token, method, path, body
    )
    assert 200 <= status < 300, answer
    return answer


def open_widget(page: Page, servers) -> None:
    page.goto(servers.web_url + "/")
    page.get_by_role("button", name="Ask about SEN Support").click()
    expect(bot_messages(page).first).to_contain_text("automated helper", timeout=WAIT)


def bot_messages(page: Page):
    return page.locator(".senw-msg--bot")


def ask(page: Page, text: str) -> None:
    before = bot_messages(page).count()
    page.get_by_label("Type your question").fill(text)
    page.get_by_label("Type your question").press("Enter")
    expect(bot_messages(page)).to_have_count(before + 1, timeout=WAIT)


def conversation_id(page: Page) -> str:
    token = page.evaluate(
        "() => Object.entries(sessionStorage).find(([k]) => k.endsWith(':token'))[1]"
    )
    return token.split(".")[0]


# --- what a parent does -----------------------------------------------------------------------
def test_a_parent_asks_uses_a_quick_reply_gives_feedback_and_keeps_it_all_on_reload(page, servers):
    page.goto(servers.web_url + "/")
    launcher = page.get_by_role("button", name="Ask about SEN Support")
    expect(launcher).to_have_attribute("aria-expanded", "false")
    launcher.click()
    dialog = page.get_by_role("dialog", name="Ask about SEN Support")
    # The privacy note is there before the first message, then the bot's introduction.
    expect(dialog.locator(".senw-privacy")).to_contain_text("Please don't type names")
    expect(bot_messages(page).first).to_contain_text("automated helper", timeout=WAIT)
    expect(page.get_by_label("Type your question")).to_be_focused()
    expect(page.get_by_role("button", name="Talk to an adviser").last).to_be_visible()
    # Screen readers: new messages are announced once, from a polite log; typing and connection
    # news from a status region.
    expect(dialog.get_by_role("log", name="Conversation")).to_have_attribute("aria-live", "polite")
    expect(dialog.locator(".senw-statusbar").get_by_role("status")).to_have_count(1)

    # Record what the status region says, to see the typing indicator come and go.
    page.evaluate(
        """() => { window.__said = [];
            const status = document.querySelector('.senw-statusbar [role=status]');
            new MutationObserver(() => window.__said.push(status.textContent))
                .observe(status, {childList: true, characterData: true, subtree: true}); }"""
    )
    ask(page, "my ds is 7 who is the senco and what do they do")
    said = page.evaluate("() => window.__said")
    assert said[:2] == ["The assistant is typing…", ""], said
    answer = bot_messages(page).nth(1)  # (locators are live: .last would move on)
    expect(answer).to_contain_text("SENCO")
    expect(answer.locator(".senw-source")).to_contain_text("Source: SEN Support guidance")
    expect(answer.get_by_text("Assistant (automated)")).to_be_visible()

    # A related topic as a quick reply: the parent sees the title they chose, then its answer.
    reply = answer.get_by_role("group", name="Suggested replies").get_by_role("button").first
    title = reply.inner_text()
    reply.click()
    expect(bot_messages(page)).to_have_count(3, timeout=WAIT)
    expect(page.locator(".senw-msg--parent").last).to_contain_text(title)
    expect(bot_messages(page).last.locator(".senw-source")).to_be_visible()

    # "Was this helpful?" under the first answer: stored with its article id.
    answer.get_by_role("group", name="Was this helpful?").get_by_role("button", name="Yes").click()
    expect(page.locator(".senw-status")).to_have_text("Thank you for your feedback.")
    expect(answer.get_by_role("button", name="Yes")).to_have_attribute("aria-pressed", "true")
    # Feedback is given once: the buttons then only show the choice.
    expect(answer.get_by_role("button", name="No")).to_have_attribute("aria-disabled", "true")
    answer.get_by_role("button", name="No").click(force=True)  # (aria-disabled: Playwright waits)
    expect(answer.get_by_role("button", name="No")).to_have_attribute("aria-pressed", "false")
    conversation = conversation_id(page)
    stored = servers.store.feedback(conversation)
    assert [(row["article"], row["helpful"]) for row in stored] == [("senco", True)]

    # A reload in the same tab keeps the conversation, the open panel and the feedback given.
    shown = page.locator(".senw-msg").all_inner_texts()
    page.reload()
    expect(page.locator(".senw-msg")).to_have_count(len(shown), timeout=WAIT)
    assert page.locator(".senw-msg").all_inner_texts() == shown
    assert conversation_id(page) == conversation
    first_answer = bot_messages(page).nth(1)
    expect(first_answer.get_by_role("button", name="Yes")).to_have_attribute("aria-pressed", "true")
    # ... and the conversation goes on where it was.
    ask(page, "what is an ehcp")
    assert conversation_id(page) == conversation


def test_answers_show_the_services_phone_and_local_offer_and_tell_me_more_works(page, servers):
    details = service.current()
    open_widget(page, servers)
    ask(page, "what is the local offer")
    answer = bot_messages(page).nth(1)
    link = answer.get_by_role("link", name=details.local_offer)
    expect(link).to_have_attribute("href", details.local_offer)

    ask(page, "what is sendiass")
    answer = bot_messages(page).nth(2)
    expect(answer).to_contain_text(f"Call {details.name} on {details.phone}")
    expect(answer.get_by_role("link", name=details.find_another)).to_be_visible()
    more = answer.get_by_role("group", name="Suggested replies").get_by_role("button").first
    expect(more).to_have_text("Tell me more")
    more.click()
    expect(bot_messages(page)).to_have_count(4, timeout=WAIT)
    detail = bot_messages(page).nth(3)
    expect(detail).to_contain_text("find your local council")
    expect(detail.locator(".senw-source")).to_contain_text("Source: SEN Support guidance")


def test_download_gives_the_conversation_as_plain_text_and_clear_starts_a_new_one(page, servers):
    open_widget(page, servers)
    ask(page, "what is the graduated approach")
    first = conversation_id(page)
    with page.expect_download() as download:
        page.get_by_role("button", name="Download this conversation as text").click()
    text = Path(download.value.path()).read_text(encoding="utf-8")
    assert "You:\nwhat is the graduated approach" in text
    assert "Assistant (automated):" in text and "Source: SEN Support guidance" in text

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Clear this conversation").click()
    expect(page.locator(".senw-msg--parent")).to_have_count(0)
    expect(bot_messages(page)).to_have_count(1, timeout=WAIT)  # a new introduction
    assert conversation_id(page) != first


def test_a_parent_waits_in_the_queue_and_talks_to_an_adviser_who_is_visibly_a_person(page, servers):
    api(servers, "PUT", "/advisers/me/availability", {"available": True})
    try:
        open_widget(page, servers)
        page.get_by_role("button", name="Talk to an adviser").last.click()
        expect(page.locator(".senw-queue")).to_contain_text(
            re.compile(r"You're (next|number \d+) in the queue"), timeout=WAIT
        )
        conversation = conversation_id(page)
        case = next(
            c
            for c in api(servers, "GET", "/cases?status=waiting")["cases"]
            if c["conversation_id"] == conversation
        )
        api(servers, "POST", f"/cases/{case['id']}/claim", {})
        api(servers, "POST", f"/cases/{case['id']}/messages", {"text": "Hello, I'm Sam."})
        adviser = page.locator(".senw-msg--adviser").last
        expect(adviser).to_contain_text("Hello, I'm Sam.", timeout=WAIT)
        expect(adviser.locator(".senw-who")).to_have_text("Sam (adviser, a person)")
        expect(adviser.locator(".senw-text")).to_have_text("Hello, I'm Sam.")
        expect(page.locator(".senw-queue")).to_have_text(
            "You're talking to Sam, an adviser (a person)."
        )

        # The connection drops; the adviser writes meanwhile; nothing is lost on reconnecting.
        page.context.set_offline(True)
        expect(page.locator(".senw-status")).to_contain_text("Connection lost")
        api(servers, "POST", f"/cases/{case['id']}/messages", {"text": "Are you still there?"})
        page.get_by_label("Type your question").fill("Sorry, my signal dropped")
        page.get_by_label("Type your question").press("Enter")
        offline_message = page.locator(".senw-msg--parent").last
        expect(offline_message).to_contain_text("Sending…")
        page.context.set_offline(False)
        expect(page.locator(".senw-msg--adviser").last).to_contain_text(
            "Are you still there?", timeout=WAIT
        )
        expect(page.locator(".senw-msg--adviser")).to_have_count(2)
        expect(offline_message).not_to_contain_text("Sending…", timeout=WAIT)
        transcript = api(servers, "GET", f"/cases/{case['id']}")["transcript"]
        assert [line["text"] for line in transcript].count("Sorry, my signal dropped") == 1

        # The parent's message goes to the adviser (the bot stays quiet), and a reload keeps all.
        page.get_by_label("Type your question").fill("Yes, thank you")
        page.get_by_label("Type your question").press("Enter")
        expect(page.locator(".senw-msg--parent").last).not_to_have_class(re.compile("pending"))
        transcript = api(servers, "GET", f"/cases/{case['id']}")["transcript"]
        assert any(line["text"] == "Yes, thank you" for line in transcript)
        page.reload()
        expect(page.locator(".senw-msg--adviser")).to_have_count(2, timeout=WAIT)
        api(servers, "POST", f"/cases/{case['id']}/close", {"outcome": "answered"})
        expect(bot_messages(page).last).to_contain_text("automated assistant again", timeout=WAIT)
    finally:
        api(servers, "PUT", "/advisers/me/availability", {"available": False})


def test_the_whole_flow_works_with_the_keyboard_alone(page, servers):
    page.goto(servers.web_url + "/")
    launcher = page.get_by_role("button", name="Ask about SEN Support")
    for _ in range(15):  # Tab through the page until the launcher has focus
        page.keyboard.press("Tab")
        if launcher.evaluate("node => node === document.activeElement"):
            break
    expect(launcher).to_be_focused()
    assert launcher.evaluate("node => getComputedStyle(node).outlineStyle") != "none"
    page.keyboard.press("Enter")
    question = page.get_by_label("Type your question")
    expect(question).to_be_focused()
    expect(bot_messages(page).first).to_contain_text("automated helper", timeout=WAIT)
    page.keyboard.type("what happens at an senco meeting")
    page.keyboard.press("Enter")
    expect(bot_messages(page)).to_have_count(2, timeout=WAIT)

    # Shift+Tab back from the question box reaches the answer's buttons; Enter uses one.
    chosen = None
    for _ in range(12):
        page.keyboard.press("Shift+Tab")
        focused = page.evaluate("() => document.activeElement.closest('.senw-replies') !== null")
        if focused:
            chosen = page.evaluate("() => document.activeElement.textContent")
            break
    assert chosen, "no quick reply could be reached with the keyboard"
    page.keyboard.press("Enter")
    expect(bot_messages(page)).to_have_count(3, timeout=WAIT)
    expect(page.locator(".senw-msg--parent").last).to_contain_text(chosen)

    # No trap: Tab moves on past the last control, and Escape closes, back to the launcher.
    question.focus()
    for _ in range(6):
        page.keyboard.press("Tab")
    assert page.evaluate("() => !document.activeElement.closest('.senw-form')")
    question.focus()
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_be_hidden()
    expect(launcher).to_be_focused()
    expect(launcher).to_have_attribute("aria-expanded", "false")


def test_axe_finds_no_serious_or_critical_accessibility_violations(browser, servers):
    # axe is injected as a script, which the demo page's CSP (script-src 'self') rightly blocks.
    context = browser.new_context(bypass_csp=True, viewport={"width": 1280, "height": 800})
    page = context.new_page()
    try:
        open_widget(page, servers)
        ask(page, "what does sen support mean")
        page.add_script_tag(path=str(AXE))
        results = page.evaluate(
            """() => axe.run(document, {runOnly: {type: 'tag', values:
                ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']}})"""
        )
    finally:
        context.close()
    bad = [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in results["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    others = [f"{v['id']} ({v['impact']})" for v in results["violations"]]
    print("axe: violations of lower impact:", others or "none")
    assert bad == []
    assert results["passes"], "axe ran no checks"
    assert any(p["id"] == "color-contrast" for p in results["passes"])


@pytest.mark.parametrize(
    "viewport", [{"width": 320, "height": 640}, {"width": 640, "height": 400}], ids=str
)
def test_usable_at_320_px_and_at_200_percent_zoom_with_big_enough_targets(
    browser, servers, viewport
):
    # 640 x 400 CSS pixels is what a 1280 x 800 window shows at 200% zoom.
    context = browser.new_context(viewport=viewport, reduced_motion="reduce")
    page = context.new_page()
    try:
        open_widget(page, servers)
        ask(page, "what is an iep")
        panel = page.get_by_role("dialog").bounding_box()
        assert panel["x"] >= 0 and panel["x"] + panel["width"] <= viewport["width"] + 1
        assert panel["y"] >= 0 and panel["y"] + panel["height"] <= viewport["height"] + 1
        assert page.evaluate("() => document.documentElement.scrollWidth") <= viewport["width"]
        for control in ("Type your question", "Send"):
            expect(page.get_by_label(control).or_(page.get_by_role("button", name=control)).first)\
                .to_be_in_viewport()  # fmt: skip
        sizes = page.evaluate(
            """() => [...document.querySelectorAll('.senw button, .senw textarea')]
                .filter(e => e.offsetParent !== null)
                .map(e => [e.textContent, e.getBoundingClientRect().width,
                           e.getBoundingClientRect().height])"""
        )
        small = [s for s in sizes if s[1] < 24 or s[2] < 24]
        assert sizes and small == []
        if viewport["width"] == 320:
            # The panel fills a phone's screen: focus moving back to the page (Shift+Tab from
            # its first control) must not land on something hidden under it (WCAG 2.4.11).
            page.get_by_role("button", name="Download this conversation as text").focus()
            page.keyboard.press("Shift+Tab")
            expect(page.get_by_role("dialog")).to_be_hidden()
            assert page.evaluate("() => document.activeElement.closest('.senw') === null")
            expect(page.get_by_role("button", name="Ask about SEN Support")).to_be_visible()
        # prefers-reduced-motion: no animation.
        assert page.evaluate(
            "() => getComputedStyle(document.querySelector('.senw-panel')).animationName"
        ) in ("none", "")
    finally:
        context.close()


def test_script_and_html_typed_by_anyone_stay_inert_text(page, servers):
    api(servers, "PUT", "/advisers/me/availability", {"available": True})
    try:
        open_widget(page, servers)
        attack = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'
        page.get_by_label("Type your question").fill(attack)
        page.get_by_label("Type your question").press("Enter")
        expect(bot_messages(page)).to_have_count(2, timeout=WAIT)
        expect(page.locator(".senw-msg--parent").last.locator(".senw-text")).to_have_text(attack)

        page.get_by_role("button", name="Talk to an adviser").last.click()
        expect(page.locator(".senw-queue")).to_be_visible(timeout=WAIT)
        conversation = conversation_id(page)
        case = next(
            c
            for c in api(servers, "GET", "/cases?status=waiting")["cases"]
            if c["conversation_id"] == conversation
        )
        api(servers, "POST", f"/cases/{case['id']}/claim", {})
        adviser_text = (
            "<b>bold</b><img src=x onerror=window.__pwned=3> javascript:alert(1) "
            "see https://www.gov.uk/children-with-special-educational-needs or call tel:0800 123"
        )
        api(servers, "POST", f"/cases/{case['id']}/messages", {"text": adviser_text})
        adviser = page.locator(".senw-msg--adviser").last
        expect(adviser.locator(".senw-text")).to_have_text(adviser_text, timeout=WAIT)
        api(servers, "POST", f"/cases/{case['id']}/close", {"outcome": "test"})
    finally:
        api(servers, "PUT", "/advisers/me/availability", {"available": False})
    assert page.evaluate("() => window.__pwned") is None
    assert page.locator(".senw img, .senw script, .senw b").count() == 0
    links = page.locator(".senw-msg a").evaluate_all("links => links.map(a => a.href)")
    assert links == [
        "https://www.gov.uk/children-with-special-educational-needs",
        "tel:0800123",
    ]


# --- the web app ----------------------------------------------------------------------------
def fetch(url: str) -> tuple[int, dict, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as reply:
            return reply.status, dict(reply.headers), reply.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_the_web_app_serves_the_widget_with_safe_headers_and_nothing_else(servers):
    status, headers, body = fetch(servers.web_url + "/")
    assert status == 200 and b'src="/widget/sen-widget.js"' in body
    assert f'data-server="{servers.url}"'.encode() in body
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and servers.url in csp
    for name in ("sen-widget.js", "sen-widget.css", "socket.io.min.js"):
        status, headers, body = fetch(f"{servers.web_url}/widget/{name}")
        assert status == 200 and body and headers["X-Content-Type-Options"] == "nosniff"
    for path in ("/widget/../bot/settings.py", "/widget/demo.html", "/widget/x.js", "/admin"):
        assert fetch(servers.web_url + path)[0] == 404


def test_the_socket_refuses_pages_from_other_sites(servers):
    request = urllib.request.Request(
        f"{servers.url}/socket.io/?EIO=4&transport=polling",
        headers={"Origin": "https://evil.example"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 400
    allowed = urllib.request.Request(
        f"{servers.url}/socket.io/?EIO=4&transport=polling",
        headers={"Origin": servers.web_url},
    )
    with urllib.request.urlopen(allowed, timeout=10) as reply:
        assert reply.status == 200
