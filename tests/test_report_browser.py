"""The `--quick` report, opened in a real headless browser: every figure renders, no JavaScript error, no network.

The report is built once (`superposition reproduce --quick`, about a minute of training) and then read twice: as
`claims.json`, and as the page that chromium renders. Nothing here names an experiment or a claim count; both come
from `claims.json` and the experiment registry, so the test follows the report as experiments are added.

The browser is the system's chromium driven by the system's chromedriver (Debian packages `chromium` and
`chromium-driver`; `.ci/run` installs them; SP_CHROMIUM and SP_CHROMEDRIVER name other paths). Both paths are given
to Selenium, so Selenium Manager never runs and nothing is downloaded. Without them the browser tests are skipped
locally, and fail when the `CI` variable is set.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import skip_or_fail

CHROMIUM = os.environ.get("SP_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("SP_CHROMEDRIVER", "/usr/bin/chromedriver")
RENDER_TIMEOUT_S = 120  # plotly draws ~5 MB of page on 2 shared cores; generous, and polled, so usually seconds

pytestmark = pytest.mark.slow


def _require_browser() -> None:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not (os.path.isfile(p) and os.access(p, os.X_OK))]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package (pip install -e '.[dev]')")
    if not missing:
        return
    skip_or_fail("headless browser test needs " + ", ".join(missing) + " (apt-get install chromium chromium-driver)")


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    """`superposition reproduce --quick` once, in its own process (the real entry point, its own threads)."""
    out = tmp_path_factory.mktemp("quick-report") / "report"
    cmd = [sys.executable, "-m", "superposition.cli", "reproduce", "--quick", "--quiet", "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    assert (out / "index.html").is_file() and (out / "claims.json").is_file()
    return out


@pytest.fixture(scope="module")
def claims(report) -> dict:
    return json.loads((report / "claims.json").read_text())


@pytest.fixture(scope="module")
def page(report, tmp_path_factory):
    """The report opened in headless chromium, after plotly has drawn every figure (or the timeout passed)."""
    _require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.selenium_manager import SeleniumManager

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="sp-chromium-")
    for flag in (
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
        "--no-first-run", "--no-default-browser-check", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-extensions", "--window-size=1280,1600",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})

    def no_manager(*args, **kwargs):
        raise AssertionError("Selenium Manager was asked for a driver; it must use the system chromedriver")

    # Both paths are given, so Selenium must not consult Selenium Manager (which would try to download).
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(SeleniumManager, "binary_paths", no_manager)
        driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        driver.set_page_load_timeout(RENDER_TIMEOUT_S)
        driver.get((report / "index.html").resolve().as_uri())
        deadline = time.monotonic() + RENDER_TIMEOUT_S
        while True:
            counts = driver.execute_script(
                "const f=[...document.querySelectorAll('.sp-figure')];"
                "return [f.length, f.filter(d=>d.querySelector('.js-plotly-plot .main-svg')).length,"
                "document.readyState];"
            )
            if counts[2] == "complete" and counts[0] == counts[1]:
                break
            if time.monotonic() > deadline:
                break  # the test below reports which figures did not render
            time.sleep(0.25)
        # Read the console once: each read drains chromedriver's buffer.
        driver.sp_console = driver.get_log("browser")
        shot = tmp_path_factory.mktemp("screenshot") / "report.png"
        driver.save_screenshot(str(shot))
        driver.sp_screenshot = shot
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def test_claims_json_has_claims_for_every_experiment(claims):
    from superposition.experiments import EXPERIMENTS

    experiments = [e["name"] for e in claims["experiments"]]
    # The quick report runs the whole registry, so every registered section is rendered by the tests below.
    assert experiments == [e.name for e in EXPERIMENTS], "the quick report left out a registered experiment"
    assert len(set(experiments)) == len(experiments), f"an experiment is listed twice: {experiments}"
    per_experiment = {name: 0 for name in experiments}
    for claim in claims["claims"]:
        for field in ("id", "experiment", "expected", "measured", "verdict"):
            assert isinstance(claim.get(field), str) and claim[field].strip(), f"claim without {field}: {claim}"
        assert claim["experiment"] in per_experiment, f"claim of an unlisted experiment: {claim['id']}"
        assert claim["verdict"] in ("reproduced", "not reproduced"), claim
        assert claim["verdict"] == ("reproduced" if claim["reproduced"] else "not reproduced"), claim
        per_experiment[claim["experiment"]] += 1
    assert all(per_experiment.values()), f"experiments without a claim: {per_experiment}"
    ids = [c["id"] for c in claims["claims"]]
    assert len(set(ids)) == len(ids), "claim ids are not unique"
    summary = claims["summary"]
    assert summary["claims"] == len(ids)
    assert summary["reproduced"] == sum(c["reproduced"] for c in claims["claims"])


def test_no_javascript_errors(page):
    recorded = page.execute_script("return document.documentElement.dataset.jsErrors || '0'")
    messages = page.execute_script("return window.__spErrors || []")
    assert recorded == "0", f"the page recorded {recorded} JavaScript error(s): {messages}"
    severe = [entry for entry in page.sp_console if entry.get("level") == "SEVERE"]
    assert not severe, "SEVERE browser console entries:\n" + "\n".join(e["message"] for e in severe)


def test_every_figure_rendered(page):
    state = page.execute_script(
        "const f=[...document.querySelectorAll('.sp-figure')];"
        "return {figures: f.length,"
        " rendered: f.filter(d=>d.querySelector('.js-plotly-plot .main-svg')).length,"
        " missing: f.filter(d=>!d.querySelector('.js-plotly-plot .main-svg'))"
        "   .map(d=>(d.querySelector('[id]')||{}).id||'?'),"
        " empty: f.filter(d=>{const s=d.querySelector('.main-svg');"
        "   return !s || s.getBoundingClientRect().width<50 || s.getBoundingClientRect().height<50;}).length,"
        " plotly: typeof window.Plotly}"
    )
    assert state["plotly"] == "object", "plotly.js did not load"
    assert state["figures"] > 0, "the report has no figures"
    assert state["rendered"] == state["figures"], (
        f"{state['rendered']} of {state['figures']} figures rendered within {RENDER_TIMEOUT_S} s; "
        f"not rendered: {state['missing']}"
    )
    assert state["empty"] == 0, f"{state['empty']} figure(s) drawn with (almost) no size"


def test_claim_tables_match_claims_json(page, claims):
    n_claims = len(claims["claims"])
    summary = page.execute_script("const p=document.getElementById('summary'); return p && p.textContent")
    assert summary, "no <p id='summary'>"
    reproduced = claims["summary"]["reproduced"]
    assert f"{reproduced} of {n_claims} claims reproduced" in summary, summary

    tables = page.execute_script(
        "return [...document.querySelectorAll('table.claims')].map(t=>({"
        " section: (t.closest('section.experiment')||{}).id || null,"
        " rows: [...t.querySelectorAll('tr.claim')].map(r=>r.dataset.claim)}))"
    )
    top = [t for t in tables if t["section"] is None]
    assert len(top) == 1, f"expected one summary claims table outside the sections, found {len(top)}"
    ids = [c["id"] for c in claims["claims"]]
    assert top[0]["rows"] == ids, "the summary table's rows differ from claims.json"

    by_section = {t["section"]: t["rows"] for t in tables if t["section"] is not None}
    for experiment in claims["experiments"]:
        name = experiment["name"]
        assert name in by_section, f"no claims table in section {name!r}"
        expected = [c["id"] for c in claims["claims"] if c["experiment"] == name]
        assert by_section[name] == expected, f"section {name!r} shows {by_section[name]}, claims.json {expected}"
    assert sum(len(rows) for rows in by_section.values()) == n_claims


def test_page_made_no_network_requests(page):
    urls = page.execute_script(
        "return performance.getEntriesByType('resource').map(e=>e.name)"
        ".concat(performance.getEntriesByType('navigation').map(e=>e.name))"
    )
    remote = [u for u in urls if not u.startswith(("file:", "data:", "blob:", "about:"))]
    assert not remote, f"the report fetched: {remote}"


def test_screenshot_is_not_blank(page):
    shot = page.sp_screenshot
    assert shot.is_file() and shot.stat().st_size > 10_000, f"screenshot {shot} is missing or tiny"
