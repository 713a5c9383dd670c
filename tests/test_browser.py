"""The built book as a reader meets it: opened from disk in a real headless Chromium.

For the root page and every page in _toc.yml: no JavaScript console error, no failed
request for a local file and no request to the network (the book works offline), the
mathematics typeset by the book's own MathJax, every image loaded, and at the 1280 x 900
window no code block, output or table wider than the text column (no sideways scrolling; a
text table printed in an output fits unwrapped). Over all of
_build/html: every local link and #anchor resolves. Each chapter's Exercises link
downloads exactly exercises/chNN/chNN.ipynb; the search page finds the course's terms.
The class report (`course report` after a real grading run) opens the same way: no console
error, its figures shown, nothing wider than the window. Screenshots of the home page, a
chapter and the class report go to .artifacts/.

Needs Debian's chromium and chromium-driver (.ci/system-deps.sh installs them): skipped
without them outside CI, failed in CI.
"""
from __future__ import annotations

import json
import re
import time
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit
from urllib.request import url2pathname

import nbformat
import pytest
import yaml
from bs4 import BeautifulSoup

from autograder.config import Settings
from tests.conftest import ROOT, require

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = ROOT / ".artifacts"
RAW_MATH = ("$$", "\\(", "\\[")


def toc_pages() -> list[str]:
    """Every document in _toc.yml, root first (parts, chapters and nested sections)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                pages.append(entry["file"])
            walk(entry.get("sections"))
            walk(entry.get("chapters"))

    walk(toc.get("chapters"))
    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    return [re.sub(r"\.(md|ipynb)$", "", p) for p in pages]


def chapter_pages() -> list[str]:
    return [p for p in toc_pages()[1:] if (ROOT / f"{p}.ipynb").exists()]


def _mentions(page: str, term: str) -> bool:
    """Whether the text or code of a page has `term` as a word (the search index has it then)."""
    src = ROOT / f"{page}.ipynb"
    if src.exists():
        text = "\n".join(c.source for c in nbformat.read(str(src), as_version=4).cells)
    else:
        src = ROOT / f"{page}.md"
        text = src.read_text() if src.exists() else ""
    return re.search(rf"(?<!\w){re.escape(term)}(?!\w)", text, re.IGNORECASE) is not None


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    require([str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()])
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--disable-quic", "--window-size=1280,900",
                f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    drv = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    drv.set_page_load_timeout(120)
    drv.set_script_timeout(120)
    yield drv
    drv.quit()


# Runs in the page after it has loaded: wait for MathJax's first typesetting (when the page
# loads MathJax), for the fonts, and for every image; then report what a reader would see.
_SETTLE = """
const done = arguments[arguments.length - 1];
const mjScript = document.querySelector('script[src*="mathjax"]');
const mj = window.MathJax && window.MathJax.startup && window.MathJax.startup.promise;
const sleep = ms => new Promise(r => setTimeout(r, ms));
async function settle() {
  if (mj) await mj;
  await document.fonts.ready;
  const t0 = Date.now();
  while ([...document.images].some(i => !i.complete) && Date.now() - t0 < 30000) await sleep(100);
  const article = (document.querySelector('article') || document.body).cloneNode(true);
  article.querySelectorAll('pre, code, script, style, mjx-container, .highlight').forEach(e => e.remove());
  return {
    mathjaxScript: mjScript ? mjScript.getAttribute('src') : null,
    mathjaxLoaded: !!mj,
    mathElements: document.querySelectorAll('.math').length,
    untypeset: [...document.querySelectorAll('.math')].filter(e => !e.querySelector('mjx-container')).length,
    typeset: document.querySelectorAll('mjx-container').length,
    mathErrors: [...document.querySelectorAll('mjx-merror')].map(e => e.textContent).slice(0, 5),
    text: article.textContent,
    images: [...document.images].map(i => [i.getAttribute('src'), i.naturalWidth]),
  };
}
settle().then(done, e => done({error: String(e)}));
"""


def _network(drv) -> tuple[list[str], list[str]]:
    """(failed requests for local files, requests that left the machine) since the last call."""
    urls, failed, remote = {}, [], []
    for entry in drv.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        params = msg.get("params", {})
        if msg["method"] == "Network.requestWillBeSent":
            url = params["request"]["url"]
            urls[params["requestId"]] = url
            if urlsplit(url).scheme in ("http", "https", "ws", "wss"):
                remote.append(url)
        elif msg["method"] == "Network.loadingFailed":
            url = urls.get(params["requestId"], "")
            if url.startswith("file:"):
                failed.append(f"{url}: {params.get('errorText')}")
    return failed, remote


def _open(drv, url: str) -> dict:
    drv.get_log("browser"), drv.get_log("performance")  # drop what earlier pages left
    drv.get(url)
    seen = drv.execute_async_script(_SETTLE)
    assert "error" not in seen, f"{url}: {seen.get('error')}"
    time.sleep(0.3)  # late console messages (fonts, deferred scripts)
    seen["console"] = [e["message"] for e in drv.get_log("browser") if e["level"] == "SEVERE"]
    seen["failed"], seen["remote"] = _network(drv)
    return seen


# Runs in a page that _open has settled: what is wider than its box at the window's width.
# Collapsed cells (hide-input, hide-cell) are opened first, as a reader who expands them sees
# them. A code block (pre, .highlight) or an output area whose content is wider than its box
# scrolls sideways; a table (its own box, or the theme's scrolling wrapper) wider than the text
# column does too. Printed output may wrap, but a line of a text table (a row framed by "|",
# or one with three or more gaps of 2+ spaces between columns) must fit unwrapped: a wrapped
# table row is not readable. Returns [kind, px too wide, the block's first characters].
_OVERFLOW = """
const art = document.querySelector('article') || document.body;
art.querySelectorAll('details').forEach(d => { d.open = true; });
const found = [];
const head = e => e.textContent.trim().replace(/\\s+/g, ' ').slice(0, 60);
const kind = e => e.closest('.cell_input') ? 'code' : e.closest('.cell_output') ? 'output' : 'listing';
const wide = [...art.querySelectorAll('pre, .highlight, .cell_output, .cell_output .output')].filter(
  e => e.clientWidth > 0 && e.scrollWidth > e.clientWidth + 1);
for (const e of wide.filter(e => !wide.some(inner => inner !== e && e.contains(inner))))
  found.push([`${kind(e)} block`, e.scrollWidth - e.clientWidth, head(e)]);
for (const t of art.querySelectorAll('table')) {
  const box = t.closest('.pst-scrollable-table-container') || t.parentElement;
  const over = Math.max(t.scrollWidth - t.clientWidth, box.scrollWidth - box.clientWidth,
                        t.getBoundingClientRect().right - art.getBoundingClientRect().right);
  if (over > 1) found.push(['table', Math.round(over), head(t)]);
}
for (const pre of art.querySelectorAll('.cell_output pre')) {
  const cs = getComputedStyle(pre);
  const room = pre.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
  const rows = pre.textContent.split('\\n').filter(
    l => /^\\s*\\|.*\\|\\s*$/.test(l) || (l.trim().match(/ {2,}/g) || []).length >= 3);
  for (const row of rows) {
    const probe = document.createElement('span');
    probe.style.whiteSpace = 'pre';
    probe.textContent = row;
    pre.appendChild(probe);
    const width = probe.getBoundingClientRect().width;
    probe.remove();
    if (width > room + 1) {
      found.push(['text table row', Math.round(width - room), row.trim().slice(0, 60)]);
      break;
    }
  }
}
const page = document.documentElement;
if (page.scrollWidth > page.clientWidth + 1)
  found.push(['page', page.scrollWidth - page.clientWidth, document.title]);
return found;
"""


def test_every_page_in_a_real_browser(book, driver):
    t0 = time.time()
    ARTIFACTS.mkdir(exist_ok=True)
    home = _open(driver, (book / "index.html").as_uri())
    assert driver.current_url.endswith(f"/{toc_pages()[0]}.html"), driver.current_url
    driver.save_screenshot(str(ARTIFACTS / "book-home.png"))
    problems = []
    pages = toc_pages()
    for i, page in enumerate(pages):
        seen = home if i == 0 else _open(driver, (book / f"{page}.html").as_uri())
        if page == next(iter(chapter_pages()), None):
            driver.save_screenshot(str(ARTIFACTS / f"book-{Path(page).name}.png"))
        for msg in seen["console"]:
            problems.append(f"{page}: console error: {msg}")
        for msg in seen["failed"]:
            problems.append(f"{page}: failed request: {msg}")
        for url in seen["remote"]:
            problems.append(f"{page}: request to the network: {url}")
        for raw in RAW_MATH:
            if raw in seen["text"]:
                problems.append(f"{page}: raw {raw} left in the text (math not typeset)")
        if seen["mathElements"]:
            if not (seen["mathjaxScript"] or "").startswith("../" * page.count("/") + "_static/mathjax/"):
                problems.append(f"{page}: MathJax is not the book's own copy: {seen['mathjaxScript']}")
            if not seen["mathjaxLoaded"]:
                problems.append(f"{page}: MathJax did not load")
            if seen["untypeset"] or not seen["typeset"]:
                problems.append(f"{page}: {seen['untypeset']} of {seen['mathElements']} formulas not typeset")
        if seen["mathErrors"]:
            problems.append(f"{page}: MathJax errors: {seen['mathErrors']}")
        for src, width in seen["images"]:
            if not width:
                problems.append(f"{page}: image not shown: {src}")
        for what, px, start in driver.execute_script(_OVERFLOW):
            problems.append(f"{page}: {what} {px} px wider than its box at 1280 px: {start!r}")
    print(f"\nbrowser: {len(pages)} page(s) checked in {time.time() - t0:.1f} s")
    assert not problems, "\n".join(problems)


def test_every_local_link_and_anchor_resolves(book):
    ids: dict[Path, set[str]] = {}
    soups: dict[Path, BeautifulSoup] = {}

    def soup(path: Path) -> BeautifulSoup:
        if path not in soups:
            soups[path] = BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")
        return soups[path]

    def anchors(path: Path) -> set[str]:
        if path not in ids:
            s = soup(path)
            ids[path] = {t["id"] for t in s.find_all(id=True)} | {t["name"] for t in s.find_all("a", attrs={"name": True})}
        return ids[path]

    # Every page; the themes' Jinja macro files that they copy into _static/ are no pages.
    pages = sorted(p for p in book.rglob("*.html") if p.relative_to(book).parts[0] != "_static")
    broken, links = [], 0
    for page in pages:
        base = page.as_uri()
        for tag in soup(page).find_all(True):
            for attr in ("href", "src"):
                ref = tag.get(attr)
                if not ref or ref.startswith(("mailto:", "javascript:", "data:")):
                    continue
                url = urlsplit(urljoin(base, ref))
                if url.scheme != "file":
                    continue  # a link to another site
                links += 1
                target = Path(url2pathname(url.path))
                if not target.exists():
                    broken.append(f"{page.relative_to(book)}: {ref} (no such file)")
                elif url.fragment and target.suffix == ".html" and unquote(url.fragment) not in anchors(target):
                    broken.append(f"{page.relative_to(book)}: {ref} (no such anchor)")
    print(f"\nlink check: {links} local link(s) in {len(pages)} page(s)")
    assert pages and links
    assert not broken, "\n".join(broken)


@pytest.mark.parametrize("page", chapter_pages())
def test_exercises_link_downloads_the_student_notebook(book, driver, page):
    _open(driver, (book / f"{page}.html").as_uri())
    hrefs = driver.execute_script(
        "return [...document.querySelectorAll('section#exercises a[href*=\"_downloads/\"]')].map(a => a.href)")
    assert hrefs, f"{page}: the Exercises section has no download link"
    number = re.match(r"\d+", Path(page).name)
    for href in hrefs:
        downloaded = Path(url2pathname(urlsplit(href).path))
        name = downloaded.stem
        if number:
            assert name == f"ch{number.group()}", f"{page}: the Exercises link downloads {downloaded.name}"
        release = ROOT / "exercises" / name / f"{name}.ipynb"
        assert downloaded.read_bytes() == release.read_bytes(), f"{href} differs from {release}"
        text = downloaded.read_text()
        assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text, f"{href} leaks the solution"


@pytest.mark.parametrize("term", ["cross-correlation", "im2col"])
def test_search_finds(book, driver, term):
    pages = [p for p in toc_pages() if _mentions(p, term)]
    if not pages:
        pytest.skip(f"no page in _toc.yml mentions {term!r} yet: nothing to search for")
    seen = _open(driver, (book / "search.html").as_uri() + f"?q={term}")
    deadline = time.time() + 60
    while "Search finished" not in driver.execute_script(
            "const s = document.querySelector('#search-results .search-summary'); return s ? s.textContent : ''"):
        assert time.time() < deadline, f"the search for {term!r} did not finish"
        time.sleep(0.2)
    found = driver.execute_script(
        "return [...document.querySelectorAll('#search-results ul.search li a')].map(a => a.getAttribute('href'))")
    found = {re.sub(r"\.html.*$", "", h) for h in found}
    assert found & set(pages), f"searching {term!r} found {sorted(found)}, none of {pages}"
    console = seen["console"] + [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert not console, console


@pytest.fixture(scope="module")
def class_report(tmp_path_factory) -> Path:
    """`course report` after a real grading run of a small ch01 class: right, blank, one item wrong."""
    from autograder.cli import main
    from autograder.grade import autograde
    from autograder.synthetic import submission, write_submission
    from tests.chapters.ch01 import WRONG

    work = tmp_path_factory.mktemp("report-class")
    write_submission(work, "ana", "ch01", submission("ch01"))
    write_submission(work, "ben", "ch01", submission("ch01", blank=True))
    write_submission(work, "cleo", "ch01", submission("ch01", replace=WRONG[3][1]))
    autograde(Settings(work, cell_timeout=15, notebook_timeout=120, jobs=2), progress=False)
    assert main(["report", "--workdir", str(work)]) == 0
    return work / "report" / "index.html"


def test_the_class_report_in_a_real_browser(class_report, driver):
    seen = _open(driver, class_report.as_uri())
    ARTIFACTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / "class-report.png"))
    assert not seen["console"] and not seen["failed"] and not seen["remote"], seen
    assert seen["images"] and all(width > 0 for _, width in seen["images"]), seen["images"]
    text = " ".join(seen["text"].split())
    assert "ch01" in text and "corr2d is still the placeholder" in text
    assert driver.execute_script(_OVERFLOW) == [], "the report is wider than a 1280 px window"
