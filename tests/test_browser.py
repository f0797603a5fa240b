"""End to end in a real headless Chromium against the real server (`searchsvc serve`).

Needs Debian's chromium (/usr/bin/chromium; `.ci/run` installs it) and Playwright's Python
package (test extra), which drives it; screenshots go to tests/screenshots/ (not committed).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parent / "screenshots"

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Chromium not installed (apt-get install chromium)"
)]


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1200, "height": 900}, locale="zh-CN")
    pg = context.new_page()
    yield pg
    context.close()


def shot(pg, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    pg.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_type_see_suggestions_pick_with_keyboard(page, live_server):
    page.goto(live_server + "/")
    shot(page, "home")
    page.keyboard.press("/")  # "/" focuses the box
    assert page.evaluate("document.activeElement.id") == "q"
    page.keyboard.type("垫江")
    page.wait_for_selector("#suggestions li", state="visible")
    options = page.locator("#suggestions li").all_inner_texts()
    assert options and all(o.startswith("垫江") for o in options)
    page.keyboard.press("ArrowDown")
    assert page.get_attribute("#q", "aria-activedescendant") == "suggestion-0"
    page.keyboard.press("Escape")
    assert page.locator("#suggestions").is_hidden()
    page.keyboard.press("ArrowDown")  # closed: the key does nothing to the list
    page.fill("#q", "")
    page.keyboard.type("ECM")
    page.wait_for_selector("#suggestions li", state="visible")
    page.keyboard.press("ArrowDown")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "q=ecmo" in page.url.lower()
    assert page.locator("ol.hits mark").first.inner_text().lower() == "ecmo"
    shot(page, "results")


def test_results_article_anchor_and_back(page, live_server):
    page.goto(live_server + "/?q=医院&group=none")
    first = page.locator("ol.hits li.hit").first
    assert first.locator("mark").count() >= 1
    with page.expect_navigation():
        page.locator("nav.pager a[rel=next]").click()
    assert "page=2" in page.url
    page.go_back()
    assert "page=2" not in page.url
    link = page.locator("ol.hits h2 a").first
    href = link.get_attribute("href")
    with page.expect_navigation():
        link.click()
    anchor = href.split("#", 1)[1]
    assert page.evaluate("location.hash") == "#" + anchor
    assert page.locator(f"#{anchor}").evaluate("el => el.matches(':target')")
    assert page.locator("article mark").count() >= 1
    shot(page, "article")


def test_no_results_page(page, live_server):
    page.goto(live_server + "/?q=魑魅魍魉")
    assert "没有找到" in page.inner_text("main")
    shot(page, "no-results")


def test_works_without_javascript_and_on_a_phone(browser, live_server):
    context = browser.new_context(
        java_script_enabled=False, viewport={"width": 360, "height": 740}, locale="zh-CN"
    )
    pg = context.new_page()
    try:
        pg.goto(live_server + "/")
        pg.fill("#q", "两癌筛查")
        with pg.expect_navigation():
            pg.click("form.search button[type=submit]")
        assert pg.locator("ol.hits mark").first.inner_text() in ("两癌筛查", "两癌”筛查")
        overflow = pg.evaluate("document.documentElement.scrollWidth")
        assert overflow <= 360, f"page is {overflow}px wide on a 360px phone"
        shot(pg, "phone")
    finally:
        context.close()


def test_apply_a_filter_and_hop_between_matches(page, live_server):
    page.goto(live_server + "/?q=医院")
    page.select_option("form.filters select[name=source]", "004_ae8107586a0ecb83.txt")
    with page.expect_navigation():
        page.click("form.filters button[type=submit]")
    assert "source=004_ae8107586a0ecb83.txt" in page.url and "q=" in page.url
    sources = page.locator("ol.hits p.meta").all_inner_texts()
    assert sources and all("004_ae8107586a0ecb83.txt" in s for s in sources)
    with page.expect_navigation():
        page.locator("ol.hits h2 a").first.click()
    first_next = page.locator("a.next-match").first
    target = first_next.get_attribute("href")
    first_next.click()
    assert page.evaluate("location.hash") == target
    assert page.locator(target).evaluate("el => el.matches(':target')")


def test_dark_colour_scheme_and_date_filter_only_with_dates(browser, live_server):
    colours = {}
    for scheme in ("light", "dark"):
        context = browser.new_context(color_scheme=scheme, viewport={"width": 1000, "height": 800})
        pg = context.new_page()
        pg.goto(live_server + "/?q=ECMO")
        colours[scheme] = pg.evaluate("getComputedStyle(document.body).backgroundColor")
        if scheme == "dark":
            shot(pg, "results-dark")
        # the seed pages carry no dates: no date inputs to fill in vain
        assert pg.locator("form.filters input[type=date]").count() == 0
        context.close()
    assert colours["light"] != colours["dark"]
