"""The pages in a real headless Chromium (Debian's chromium + chromedriver, driven by
Selenium): sign in with a token, see the incident, approve the pending action from the queue
with its evidence beside it, follow the timeline to the outcome. Cluster text is shown as text,
never run. Screenshots go to test-artifacts/ (their paths are printed)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import httpx
import pytest

from opsagent.sandbox.prom.stack import free_port
from opsagent.serve.demo import serving
from tests import requires
from tests.live import requires_stack
from tests.serve.service import TOKENS, auth, engine, payload, reset, until

CHROMEDRIVER = shutil.which("chromedriver")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
pytestmark = [
    requires_stack,
    pytest.mark.slow,
    requires.chromium,
]


@pytest.fixture
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,900",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


@pytest.fixture
def service(box, tmp_path):
    reset(box)
    eng = engine(box, tmp_path / "data")
    port = free_port()
    with serving(eng, "127.0.0.1", port):
        yield eng, f"http://127.0.0.1:{port}"


def _shot(driver, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    print(f"screenshot: {path}")
    return path


def _text(driver, css: str) -> str:
    """The text of every element matching css, read in one script call: the pages re-render
    every few seconds, so a WebElement found a moment ago may be gone (stale) when read."""
    script = "return [...document.querySelectorAll(arguments[0])].map(e => e.innerText).join('\\n')"
    return driver.execute_script(script, css)


def _shows(driver, css: str, needle: str, timeout: float = 20) -> str:
    """Wait until an element matching css shows needle; returns that text."""
    return until(lambda: needle in (t := _text(driver, css)) and t, timeout)


def _click(driver, css: str, timeout: float = 20) -> None:
    """Click the first element matching css, finding it again if a re-render replaced it."""
    from selenium.common.exceptions import StaleElementReferenceException

    def attempt() -> bool:
        try:
            _find(driver, css, timeout)[0].click()
        except StaleElementReferenceException:
            return False
        return True

    until(attempt, timeout)


def _find(driver, css: str, timeout: float = 20):
    from selenium.webdriver.common.by import By

    return until(lambda: driver.find_elements(By.CSS_SELECTOR, css), timeout)


def test_an_sre_signs_in_approves_from_the_queue_and_follows_the_timeline(service, browser):
    from selenium.webdriver.common.by import By

    eng, url = service
    hostile = '<img src=x onerror="window.pwned=1">'
    body = {
        "source": "grafana",
        "alerts": [
            {
                "name": "CheckoutErrors",
                "severity": "critical",
                "labels": {"namespace": "shop", "service": "checkout", "team": hostile},
                "summary": hostile,
            }
        ],
    }
    httpx.post(f"{url}/v1/alerts", json=body, headers=auth("alertmanager")).raise_for_status()
    approval = until(lambda: eng.store.approvals("pending"), 60)[0]

    # Sign in: no token yet, so the page asks for one.
    browser.get(f"{url}/")
    _find(browser, "#token").pop().send_keys(TOKENS["approver"])
    _click(browser, "#save-token")
    _shows(browser, "#incidents tr td a", approval["incident"])
    _shows(browser, "#incidents", "waiting")  # the page refreshes every 3 s
    _shot(browser, "incidents")

    # The queue: the action, its risk and rule, the diagnosis and its evidence, the buttons.
    browser.get(f"{url}/approvals")
    card = _shows(browser, ".approval", "k8s_rollout_undo")
    assert "checkout" in card and "mutate-high" in card and "Rollback" in card
    assert "Pods affected" in card  # the gate's facts beside the action
    assert _text(browser, ".approval .evidence li"), "the evidence is listed beside the action"
    _shot(browser, "approval-queue")
    _click(browser, ".approval button.approve")
    _shows(browser, ".result.status-done", "approved by sre-approver")
    until(lambda: (eng.store.incident(approval["incident"]) or {}).get("status") == "done", 120)

    # The timeline, to the outcome.
    browser.get(f"{url}/incidents/{approval['incident']}")
    _shows(browser, "#main", "executed")
    text = _text(browser, "#timeline")
    for kind in (
        "alerts",
        "triage",
        "diagnosis",
        "gate approve",
        "approval",
        "executed",
        "verification",
        "outcome",
    ):
        assert kind in text, kind
    assert "approve by sre-approver" in text and "mitigated" in text
    assert _text(browser, "#report")
    _shot(browser, "incident-timeline")

    # Hostile text from an alert is shown as text and never runs.
    browser.get(f"{url}/")
    _find(browser, "#incidents tr td a")
    time.sleep(0.5)
    assert browser.execute_script("return window.pwned") is None
    assert browser.find_elements(By.CSS_SELECTOR, "#incidents img") == []


def test_a_wrong_token_is_told_and_a_viewer_cannot_decide(service, browser):

    eng, url = service
    httpx.post(f"{url}/v1/alerts/alertmanager", json=payload("firing"), headers=auth("alertmanager"))
    until(lambda: eng.store.approvals("pending"), 60)
    browser.get(f"{url}/approvals#token=not-a-real-token-123")
    _shows(browser, "#main .card p", "not accepted")
    browser.get(f"{url}/approvals#token={TOKENS['viewer']}")
    _click(browser, ".approval button.approve")
    _shows(browser, ".result.error", "needs the approver role")
    assert eng.store.approvals("pending")
