"""The adviser console in a real browser (Debian's chromium, Playwright) against the real servers:
an adviser logs in, takes a parent's case and chats live with the parent on the website widget,
searches the transcripts, marks a turn wrong and exports the correction; axe-core audits the
pages."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from playwright.sync_api import Page, expect

from bot.adviser.console.accounts import Accounts
from bot.ops.servers import Servers
from tests.helpers.ports import free_port, free_ports

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "sen-assistant.tar.gz"
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
WAIT = 20_000
PASSWORD = "a long test passphrase"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    assert MODEL.exists(), "Train first: `make train` (make test does this)."
    data_dir = tmp_path_factory.mktemp("console")
    Accounts(f"sqlite:///{data_dir / 'handoff.db'}").create_user("ana", "Ana", "admin", PASSWORD)
    servers = Servers(
        MODEL, *free_ports(3), web_port=free_port(), console_port=free_port(), data_dir=data_dir,
        extra_env={"SEN_OPENING_HOURS": "Mon-Sun 00:00-23:59"},
    )  # fmt: skip
    with servers:
        yield servers


def log_in(page: Page, servers) -> None:
    page.goto(servers.console_url + "/")
    expect(page).to_have_url(servers.console_url + "/login?next=/")
    page.get_by_label("Username").fill("ana")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Case queue")).to_be_visible()


def audit(page: Page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    results = page.evaluate(
        """() => axe.run(document, {runOnly: {type: 'tag', values:
            ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']}})"""
    )
    return [
        f"{page.url}: {v['id']} ({v['impact']}) {[n['target'] for n in v['nodes']][:3]}"
        for v in results["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def test_an_adviser_takes_a_case_and_chats_live_with_a_parent_then_reviews_it(
    browser, servers, tmp_path
):
    adviser = browser.new_context().new_page()
    parent = browser.new_context().new_page()
    log_in(adviser, servers)  # (the session cookie is Secure: Chromium keeps it on loopback)
    adviser.get_by_role("button", name="Mark me available").click()
    expect(adviser.get_by_text("You are available")).to_be_visible()

    # A parent on the website asks a question, then for an adviser.
    parent.goto(servers.web_url + "/")
    parent.get_by_role("button", name="Ask about SEN Support").click()
    question = parent.get_by_label("Type your question")
    question.fill("my son Jack is in year 3, who is the senco")
    question.press("Enter")
    expect(parent.locator(".senw-msg--bot")).to_have_count(2, timeout=WAIT)
    parent.get_by_role("button", name="Talk to an adviser").last.click()
    expect(parent.locator(".senw-queue")).to_contain_text("queue", timeout=WAIT)

    # The adviser finds the case in the queue, claims it and replies.
    adviser.reload()
    waiting = adviser.get_by_role("region", name="Waiting (1)")
    waiting.get_by_role("link").first.click()
    adviser.get_by_role("button", name="Claim this case").click()
    expect(parent.locator(".senw-msg--bot").last).to_contain_text(
        "Ana, an adviser, has joined", timeout=WAIT
    )
    adviser.get_by_label("Your reply").fill("Hello, I'm Ana. How can I help?")
    adviser.get_by_role("button", name="Send").click()
    expect(adviser.locator("#chat-status")).to_have_text("Sent.")
    expect(parent.locator(".senw-msg--adviser").last).to_contain_text(
        "Hello, I'm Ana. How can I help?", timeout=WAIT
    )
    # The parent answers; it appears in the console without a reload.
    question.fill("Thank you, it's about his reading")
    question.press("Enter")
    expect(adviser.locator("#chat")).to_contain_text("it's about his reading", timeout=WAIT)
    problems = audit_in_new_context(browser, servers, adviser.url)
    adviser.get_by_label("Outcome note").fill("Explained the SENCO's role.")
    adviser.get_by_role("button", name="Close the case").click()
    expect(adviser.get_by_role("heading", name="Case queue")).to_be_visible()
    expect(parent.locator(".senw-msg--bot").last).to_contain_text(
        "automated assistant again", timeout=WAIT
    )

    # Transcripts: found by search, redacted, a turn marked wrong and exported.
    adviser.get_by_role("link", name="Conversations").click()
    adviser.get_by_label("Search the messages").fill("senco")
    adviser.get_by_role("button", name="Filter").click()
    rows = adviser.locator("tbody tr")
    expect(rows).to_have_count(1)
    rows.first.get_by_role("link").click()
    first_turn = adviser.locator("#turn-0")
    expect(first_turn).to_contain_text("my son [NAME] is in year 3, who is the senco")
    expect(adviser.locator("main")).not_to_contain_text("Jack")
    first_turn.get_by_label("Wrong? The right topic is").select_option("kb_parent_involvement")
    first_turn.get_by_role("button", name="Mark as wrong").click()
    expect(adviser.locator("#turn-0")).to_contain_text("the right topic is kb_parent_involvement")
    adviser.get_by_role("link", name="Corrections").click()
    with adviser.expect_download() as download:
        adviser.get_by_role("button", name="Export corrections (YAML)").click()
    exported = Path(download.value.path()).read_text(encoding="utf-8")
    data = yaml.safe_load(exported)
    assert data["nlu"][0]["intent"] == "kb_parent_involvement"
    assert "who is the senco" in data["nlu"][0]["examples"] and "Jack" not in exported

    for path in ("/", "/conversations", "/gaps", "/analytics", "/corrections", "/audit"):
        problems += audit_in_new_context(browser, servers, servers.console_url + path)
    assert problems == []


def audit_in_new_context(browser, servers, url: str) -> list[str]:
    """axe is injected as a script, which the console's CSP rightly blocks: a CSP-free context,
    logged in afresh."""
    context = browser.new_context(bypass_csp=True)
    page = context.new_page()
    try:
        log_in(page, servers)
        page.goto(url)
        return audit(page)
    finally:
        context.close()
