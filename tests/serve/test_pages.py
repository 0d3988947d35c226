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
    browser.find_element(By.ID, "save-token").click()
    row = _find(browser, "#incidents tr td a")[0]
    assert row.text == approval["incident"]
    until(
        lambda: "waiting" in browser.find_element(By.ID, "incidents").text, 20
    )  # the page refreshes every 3 s
    _shot(browser, "incidents")

    # The queue: the action, its risk and rule, the diagnosis and its evidence, the buttons.
    browser.get(f"{url}/approvals")
    card = _find(browser, ".approval")[0]
    assert "k8s_rollout_undo" in card.text and "checkout" in card.text
    assert "mutate-high" in card.text and "Rollback" in card.text
    assert card.find_elements(By.CSS_SELECTOR, ".evidence li"), "the evidence is listed beside the action"
    _shot(browser, "approval-queue")
    card.find_element(By.CSS_SELECTOR, "button.approve").click()
    assert "approved by sre-approver" in _find(browser, ".result.status-done")[0].text
    until(lambda: (eng.store.incident(approval["incident"]) or {}).get("status") == "done", 120)

    # The timeline, to the outcome.
    browser.get(f"{url}/incidents/{approval['incident']}")
    until(lambda: "executed" in browser.find_element(By.ID, "main").text, 20)
    text = browser.find_element(By.ID, "timeline").text
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
    assert browser.find_element(By.ID, "report").text
    _shot(browser, "incident-timeline")

    # Hostile text from an alert is shown as text and never runs.
    browser.get(f"{url}/")
    _find(browser, "#incidents tr td a")
    time.sleep(0.5)
    assert browser.execute_script("return window.pwned") is None
    assert browser.find_elements(By.CSS_SELECTOR, "#incidents img") == []


def test_a_wrong_token_is_told_and_a_viewer_cannot_decide(service, browser):
    from selenium.webdriver.common.by import By

    eng, url = service
    httpx.post(f"{url}/v1/alerts/alertmanager", json=payload("firing"), headers=auth("alertmanager"))
    until(lambda: eng.store.approvals("pending"), 60)
    browser.get(f"{url}/approvals#token=not-a-real-token-123")
    assert "not accepted" in _find(browser, "#main .card p")[0].text
    browser.get(f"{url}/approvals#token={TOKENS['viewer']}")
    _find(browser, ".approval")[0].find_element(By.CSS_SELECTOR, "button.approve").click()
    assert "needs the approver role" in _find(browser, ".result.error")[0].text
    assert eng.store.approvals("pending")
