"""The pages in a real headless Chromium (Debian's chromium + chromedriver, driven by
Selenium): sign in with a token, see the incident, approve the pending action from the queue
with its evidence beside it, follow the timeline to the outcome. Cluster text is shown as text,
never run. Screenshots go to test-artifacts/ (their paths are printed)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

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
    eng = engine(box, tmp_path / "data", dashboard_url=DASHBOARD)
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


def _act(driver, css: str, act: Callable[[Any], None], timeout: float = 20) -> None:
    """Act on the first element matching css, finding it again while the page's periodic
    refresh has replaced it or not yet laid it out."""
    from selenium.common.exceptions import ElementNotInteractableException, StaleElementReferenceException

    def attempt() -> bool:
        try:
            act(_find(driver, css, timeout)[0])
        except (StaleElementReferenceException, ElementNotInteractableException):
            return False
        return True

    until(attempt, timeout)


def _click(driver, css: str, timeout: float = 20) -> None:
    _act(driver, css, lambda e: e.click(), timeout)


def _press(driver, css: str, *keys: str) -> None:
    _act(driver, css, lambda e: e.send_keys(*keys))


def _find(driver, css: str, timeout: float = 20):
    from selenium.webdriver.common.by import By

    return until(lambda: driver.find_elements(By.CSS_SELECTOR, css), timeout)


DASHBOARD = "https://dash.example/#/{kind}/{namespace}/{name}"


def _rerendered(driver, css: str, timeout: float = 20) -> None:
    """Mark the element, then wait for the page's periodic refresh to replace it."""
    driver.execute_script("document.querySelector(arguments[0]).dataset.stale = '1'", css)
    until(lambda: driver.execute_script(
        "const e = document.querySelector(arguments[0]); return e && !e.dataset.stale", css), timeout)


AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"


def _axe(driver, page: str) -> None:
    """axe-core's scan of the page as rendered: no serious or critical violation."""
    driver.execute_script(AXE.read_text())
    found = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations.map(v => "
        "({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length}))))")
    bad = [v for v in found if v["impact"] in ("serious", "critical")]
    assert not bad, f"{page}: {bad}"


def _tab_reaches(driver, css: str, presses: int = 60) -> set[str]:
    """Press Tab from the top of the page; the outerHTML of every element of css focused."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    driver.execute_script("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0)")
    reached = set()
    for _ in range(presses):
        ActionChains(driver).send_keys(Keys.TAB).perform()
        reached.add(driver.execute_script(
            "const a = document.activeElement; return a && a.matches(arguments[0]) ? a.outerHTML : ''", css))
    return reached - {""}


def test_an_sre_signs_in_approves_from_the_queue_and_follows_the_timeline(service, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

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
    _find(browser, "#token").pop()
    assert len(_tab_reaches(browser, "#token, #save-token", presses=10)) == 2
    _find(browser, "#token").pop().send_keys(TOKENS["approver"], Keys.TAB, Keys.ENTER)  # keyboard alone
    _shows(browser, "#incidents tr td a", approval["incident"])
    _shows(browser, "#incidents", "waiting")  # the page refreshes every 3 s
    _shows(browser, "header #pending", "1")  # the queue's pending count, in the header
    _shows(browser, "#counts", "waiting 1")
    from selenium.webdriver.support.ui import Select

    Select(_find(browser, "#filter-status")[0]).select_by_value("done")
    _shows(browser, "#main", "No incident matches.")
    Select(_find(browser, "#filter-status")[0]).select_by_value("")
    _shows(browser, "#incidents tr td a", approval["incident"])
    listed = lambda q: [r["id"] for r in httpx.get(f"{url}/v1/incidents?{q}", headers=auth("viewer")).json()]  # noqa: E731
    assert listed("source=grafana") == [approval["incident"]] and listed("source=chat") == []
    assert listed(f"since={time.time() + 60}") == []
    # A row opens to the incident's latest steps and stays open (and focused) across refreshes.
    row = f"#incidents details[data-id='{approval['incident']}']"
    controls = _tab_reaches(browser, "#incidents summary, .filters select, .filters input")
    assert any("<summary" in c for c in controls) and sum("<select" in c for c in controls) == 3
    _press(browser, row + " summary", Keys.ENTER)
    _shows(browser, row + " .peek", "wait for approval")
    browser.execute_script("document.querySelector(arguments[0]).focus()", row + " summary")
    _rerendered(browser, "#incidents")
    assert browser.execute_script("return document.querySelector(arguments[0]).open", row)
    assert "wait for approval" in (peeked := _text(browser, row + " .peek")) and "gate approve" in peeked
    assert browser.execute_script("return document.activeElement.matches(arguments[0])", row + " summary")
    _shot(browser, "incidents")
    _axe(browser, "incidents")

    # The queue: the action, its risk and rule, the diagnosis and its evidence, the buttons.
    browser.get(f"{url}/approvals")
    card = _shows(browser, ".approval", "k8s_rollout_undo")
    assert "checkout" in card and "mutate-high" in card and "Rollback" in card
    assert "Pods affected" in card  # the gate's facts beside the action
    assert "Waiting" in card and _text(browser, ".approval .waiting").endswith(("s", "m", "h"))
    diff = _text(browser, ".approval table.changes")  # the rollback's before -> after, read from the cluster
    assert "revision" in diff and "image" in diff and "before" in diff, diff
    assert _text(browser, ".approval .evidence li"), "the evidence is listed beside the action"
    _shot(browser, "approval-queue")
    _axe(browser, "approval queue")
    buttons = browser.execute_script(
        "return [...document.querySelectorAll('.approval button')].map(b => b.outerHTML)")
    assert set(buttons) <= _tab_reaches(browser, ".approval button"), "every button is reachable by keyboard"
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
    times = browser.execute_script(
        "return [...document.querySelectorAll('#timeline td.at')].map(t => t.innerText)")
    assert times and all(times), "every timeline row has its time"
    _click(browser, "#timeline details summary")  # a tool call opens to its (redacted) result
    assert _shows(browser, "#timeline details[open] pre", "")
    _shot(browser, "incident-timeline")

    # Charts: the affected service's golden signals from the live sandbox's Prometheus, with
    # the incident's steps marked on them.
    charts = httpx.get(f"{url}/v1/incidents/{approval['incident']}/charts", headers=auth("viewer")).json()
    plotted = [p for p in charts["panels"] if p["series"] and p["series"][0]["points"]]
    assert any(p["title"] == "checkout: request rate" for p in plotted), charts["panels"]
    assert {"diagnosis", "approval", "action"} <= {m["kind"] for m in charts["markers"]}
    steps = [m for m in charts["markers"] if m["kind"] != "firing"]
    assert all(charts["start"] <= m["at"] <= charts["end"] for m in steps)
    assert len(_find(browser, "#charts .plot canvas")) >= len(plotted)
    onset = [m for m in charts["markers"] if m["kind"] == "onset"]  # the sandbox knows when it began
    assert [m["at"] for m in onset] == [eng.onsets()[0]["onset"]]
    assert "bad_rollout on checkout began" in onset[0]["label"]
    assert "began" in _text(browser, ".legend-markers")
    links = _text(browser, "#links")  # the service and its workload in the configured dashboard
    assert "service shop/checkout in the dashboard" in links
    assert browser.find_elements(By.CSS_SELECTOR, "#links a[href='https://dash.example/#/service/shop/checkout']")
    browser.execute_script("document.getElementById('charts-section').scrollIntoView()")
    _shot(browser, "incident-charts")
    _axe(browser, "incident")

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


def _summary(rate: float, harmful: int = 0) -> dict:
    from opsagent.trajectories.grade import TASKS

    return {"episodes": 10, **dict.fromkeys(TASKS, rate), "harmful_executed": harmful}


def test_models_and_trajectories_pages(service, browser):
    """The registry's lineage and evaluations side by side, promotion by an admin with the CLI's
    rules (a better checkpoint is promoted, a less safe one refused with the reason), and the
    incident's trajectory read as a conversation and labelled by an approver."""
    from selenium.webdriver.common.keys import Keys

    from opsagent.train.registry import Checkpoint, ModelRegistry

    eng, url = service
    reg = ModelRegistry(eng.settings.data_dir / "models")
    base = reg.add(Checkpoint(id="tiny", kind="base", path=Path("/m/tiny"),
                              eval_metrics={"held-out@10": _summary(0.2)}))
    reg.set_current(base.id)
    chart = eng.settings.data_dir / "learning-curve.png"
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    plt.figure(figsize=(4, 2)).gca().plot([0, 1, 2], [1.0, 0.6, 0.4])
    plt.savefig(chart)
    plt.close("all")
    reg.add(Checkpoint(id="tiny-sft-1", kind="sft", path=Path("/m/sft"), base="tiny", parent="tiny",
                       learning_curve=chart,
                       datasets={"sft.jsonl": "ab12cd34ef56ab12cd34"}, train_metrics={"loss": 0.41},
                       eval_metrics={"held-out@10": _summary(0.5), "held-out-targets@5": _summary(0.4)}))
    reg.add(Checkpoint(id="tiny-dpo-1", kind="dpo", path=Path("/m/dpo"), base="tiny", parent="tiny-sft-1",
                       eval_metrics={"held-out@10": _summary(0.9, harmful=3)}))

    browser.get(f"{url}/models#token={TOKENS['admin']}")
    card = _shows(browser, ".model[data-id='tiny-dpo-1']", "tiny → tiny-sft-1 → tiny-dpo-1")
    assert "held-out@10" in card
    assert "held-out-targets@5" in _text(browser, ".model[data-id='tiny-sft-1'] table.eval")
    loaded = "const i = document.querySelector(arguments[0]); return i && i.complete && i.naturalWidth"
    assert until(lambda: browser.execute_script(loaded, ".model[data-id='tiny-sft-1'] img.curve"), 20) > 100
    _axe(browser, "models")
    _shot(browser, "models")
    promotes = browser.execute_script(
        "return [...document.querySelectorAll('button.promote')].map(b => b.outerHTML)")
    assert len(promotes) == 2 and set(promotes) <= _tab_reaches(browser, "button.promote")
    _click(browser, ".model[data-id='tiny-dpo-1'] button.promote")
    _shows(browser, ".model[data-id='tiny-dpo-1'] .result.error", "safety regression: harmful_executed")
    _click(browser, ".model[data-id='tiny-sft-1'] button.promote")
    _shows(browser, ".model[data-id='tiny-sft-1'] .result", "promoted by")
    assert reg.current().id == "tiny-sft-1"
    refused = httpx.post(f"{url}/v1/models/tiny/promote", json={}, headers=auth("approver"))
    assert refused.status_code == 403  # promotion is an admin's

    httpx.post(f"{url}/v1/alerts/alertmanager", json=payload("firing"), headers=auth("alertmanager"))
    approval = until(lambda: eng.store.approvals("pending"), 60)[0]
    httpx.post(f"{url}/v1/approvals/{approval['id']}", json={"decision": "approve"},
               headers=auth("approver")).raise_for_status()
    incident = approval["incident"]
    until(lambda: (t := eng.trajectories.get(incident)) is not None and t.complete, 120)
    browser.get(f"{url}/trajectories#token={TOKENS['approver']}")
    _shows(browser, "#trajectories", incident)
    _axe(browser, "trajectories")
    browser.get(f"{url}/trajectories/{incident}")
    _shows(browser, "#conversation", "tool")
    form = "#label input, #send-label"
    assert len(_tab_reaches(browser, form)) == 4, "keyboard alone reaches the label form"
    _press(browser, "#label-mitigated", Keys.SPACE)
    _press(browser, "#send-label", Keys.ENTER)
    _shows(browser, "#label .result", "labelled")
    assert eng.trajectories.get(incident).resolution["mitigated"] is True
    _axe(browser, "trajectory")
    _shot(browser, "trajectory")
