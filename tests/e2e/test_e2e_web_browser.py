"""The console in a real browser (Debian's chromium + chromium-driver, driven by selenium): the
daemon runs the bundled sample with the web console enabled (one config line), the page shows
粤LQ092V live with its crop, the history search finds it, both highlight it as on an allow list, the camera panel lists the camera, and
a screenshot is kept under tests/artifacts/web/ (git-ignored). Then the daemon stops cleanly,
its web child with it."""
from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest
import yaml

from benchmarks.harness import Daemon, config, run_alprd, write_config
from benchmarks.ports import free_port

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "web"
PLATE = "粤LQ092V"


def chrome(profile: Path):
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not binary or not driver:
        pytest.skip("Debian's chromium and chromium-driver are not installed (scripts/install-test-deps.sh)")
    opts = Options()
    opts.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-extensions", "--no-first-run", "--lang=zh-CN", "--window-size=1400,1100",
                f"--user-data-dir={profile}"):
        opts.add_argument(arg)
    return webdriver.Chrome(service=Service(driver), options=opts)


def _stored_with_match(url: str) -> bool:
    import httpx

    try:
        r = httpx.get(f"{url.rstrip('/')}/api/events", params={"plate": PLATE}, timeout=30)
    except httpx.HTTPError:
        return False
    return r.status_code == 200 and any(e.get("matches") for e in r.json()["events"])


def test_the_console_shows_the_sample_plate_live_and_finds_it(tmp_path, trained):
    if not trained:
        pytest.skip("the sample's plate needs trained weights")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    state = tmp_path / "var"
    doc = config([{"id": "sample", "url": "builtin:sample.mp4"}], state_dir=state,
                 sinks={"sql": {"enabled": True, "url": f"sqlite:///{tmp_path / 'alprd.db'}"},
                        "bus": {"enabled": True, "endpoint": f"tcp://127.0.0.1:{free_port()}"}},
                 web={"enabled": True, "port": 0},
                 # every frame of the sample read, however loaded the machine (the plate is needed)
                 defaults={"ring_slots": 64}, inference={"max_queue_ms": 0})
    cfg = write_config(tmp_path / "alprd.yaml", doc)
    for args in (("create", "vip", "--kind", "allow"), ("add", "vip", PLATE, "--label", "boss")):
        r = run_alprd("plates", *args, "-c", str(cfg), cwd=tmp_path, timeout=300)
        assert r.returncode == 0, r.stderr
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    profile = Path(tempfile.mkdtemp(prefix="alprd-chrome-"))
    with Daemon(cfg, tmp_path, "--keep-running") as d:
        web = d.wait_for(lambda: (state / "web.json").exists() and json.loads((state / "web.json").read_text()),
                         300, "the web console's web.json")
        url = web["url"]
        assert url.startswith("http://127.0.0.1:")
        browser = chrome(profile)
        try:
            browser.get(url)
            wait = WebDriverWait(browser, 300, poll_frequency=0.25)
            # live: the final read of the sample's plate, with its crop loaded
            card = wait.until(lambda b: next((c for c in b.find_elements(By.CSS_SELECTOR, "#live .read.final")
                                              if c.find_element(By.CSS_SELECTOR, ".plate").text == PLATE), None))
            wait.until(lambda b: b.execute_script(
                "const i = arguments[0].querySelector('img.crop'); return i && i.complete && i.naturalWidth > 0",
                card))
            assert card.find_element(By.CSS_SELECTOR, ".camera").text == "sample"
            # on the allow list: highlighted, the list named (the daemon's plate.match, live)
            wait.until(lambda b: "matched" in card.get_attribute("class").split())
            assert "vip (allow)" in card.find_element(By.CSS_SELECTOR, ".lists").text
            assert "%" in card.find_element(By.CSS_SELECTOR, ".confidence").text
            # the camera panel
            wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, '#cameras tr[data-camera="sample"]'))
            # history: the search finds it (SQL, through the API), crop and all. The live card comes
            # from the bus at once; SQL gets the final (and its list match) from its spool a little
            # later, so the one search the test clicks waits until the API has both to give
            d.wait_for(lambda: _stored_with_match(url), 300, "the final and its list match in SQL", interval=0.5)
            box = browser.find_element(By.ID, "search-plate")
            box.send_keys("粤LQ*")
            browser.find_element(By.ID, "search-button").click()
            row = wait.until(lambda b: next((r for r in b.find_elements(By.CSS_SELECTOR, "#results tbody tr")
                                             if r.find_element(By.CSS_SELECTOR, ".plate").text == PLATE), None))
            wait.until(lambda b: b.execute_script(
                "const i = arguments[0].querySelector('img.crop'); return i && i.complete && i.naturalWidth > 0",
                row))
            assert "matched" in row.get_attribute("class").split()  # from SQL's plate_matches
            browser.save_screenshot(str(ARTIFACTS / "console.png"))
            assert (ARTIFACTS / "console.png").stat().st_size > 10000
        finally:
            browser.quit()
            shutil.rmtree(profile, ignore_errors=True)
        d.signal()
        assert d.wait(300) == 0, d.stderr[-4000:]
    assert "Traceback" not in d.stderr, d.stderr[-4000:]
    finals = [json.loads(x) for x in (state / "events.jsonl").read_text().splitlines()]
    assert PLATE in [e["plate"] for e in finals if e["kind"] == "plate.final"]
    assert yaml.safe_load(cfg.read_text())["web"]["enabled"] is True
