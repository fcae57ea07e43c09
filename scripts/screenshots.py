"""Screenshots of every web page in each language at 1920x1080 and 390x844 (``make screenshots``).

Serves the demo office (a fresh SQLite store in a temporary folder, demo accounts, a few tickets and
a call) on loopback, drives Debian's Chromium with Playwright and writes
``artifacts/screenshots/<page>-<lang>-<w>x<h>.png`` (not committed). Prints the count at the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import socket
import tempfile
import threading
import time
from pathlib import Path

import uvicorn
from playwright.sync_api import sync_playwright

from cherga.broker_bridge.contract import LANGUAGES, CounterAction
from cherga.server.app import create_app
from cherga.server.siteconfig import load_site_config
from cherga.server.store import sqlite_url

ROOT = Path(__file__).resolve().parent.parent
SIZES = [(1920, 1080), (390, 844)]
PUBLIC = {"start": "/", "kiosk": "/office/{o}/kiosk", "hall": "/office/{o}/hall", "book": "/office/{o}/book",
          "load": "/load/{o}", "reports-signin": "/reports/signin", "panel-signin": "/panel/signin",
          "docs": "/docs"}
STAFF = {"counter": ("olena", "cherga-operator", "/panel/counter/c1"),
         "manager": ("manager", "cherga-manager", "/panel/manager")}
# A Monday morning inside the demo office's hours, so the queue has tickets and a call whatever today is.
OPEN = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--config", default=str(ROOT / "examples/demo-office.yaml"))
    ap.add_argument("--out", default=str(ROOT / "artifacts/screenshots"))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = load_site_config(Path(args.config))
    o = cfg.office.id
    db = Path(tempfile.mkdtemp()) / "screens.db"
    app = create_app(cfg, sqlite_url(db), clock=lambda: OPEN, sweep_interval=None, demo_accounts=True)
    svc = app.state.service
    first = cfg.services[0]
    for i in range(4):
        svc.issue_ticket(command_id=f"s{i}", source="screens", service=first.id,
                         purpose=first.purposes[0] if first.purposes else None, language="uk")
    svc.counter_action(command_id="n1", counter=cfg.counters[0].id, action=CounterAction.NEXT, source="screens",
                       operator=None)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    count = 0
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        for lang in LANGUAGES:
            context = browser.new_context()
            page = context.new_page()
            shots = [(name, path.format(o=o)) for name, path in PUBLIC.items()]
            for name, (user, password, path) in STAFF.items():
                shots.append((name, (user, password, path)))  # type: ignore[arg-type]
            for name, target in shots:
                if isinstance(target, tuple):
                    user, password, path = target
                    context.clear_cookies()
                    page.goto(f"{base}/panel/signin?lang={lang}")
                    page.fill("input[name=username]", user)
                    page.fill("input[name=password]", password)
                    if page.locator("select[name=counter]").count():
                        # The hall manager works without a counter (c1 is the operator's: taking it is refused).
                        page.select_option("select[name=counter]", "c1" if name == "counter" else "none")
                    page.click("button.primary")
                    target = path
                page.goto(f"{base}{target}?lang={lang}")
                page.wait_for_load_state("networkidle")
                for w, h in SIZES:
                    page.set_viewport_size({"width": w, "height": h})
                    page.wait_for_timeout(150)
                    page.screenshot(path=str(out / f"{name}-{lang}-{w}x{h}.png"), full_page=True)
                    count += 1
            # The reports page as a hall manager sees it once signed in (charts, filters, tables).
            context.clear_cookies()
            page.goto(f"{base}/reports/signin?next=/reports/{o}")
            page.fill("input[name=username]", "manager")
            page.fill("input[name=password]", "cherga-manager")
            page.click("button[type=submit]")
            page.goto(f"{base}/reports/{o}?lang={lang}")
            page.wait_for_load_state("networkidle")
            for w, h in SIZES:
                page.set_viewport_size({"width": w, "height": h})
                page.wait_for_timeout(150)
                page.screenshot(path=str(out / f"reports-{lang}-{w}x{h}.png"), full_page=True)
                count += 1
            context.close()
        browser.close()
    server.should_exit = True
    print(f"{count} screenshots in {out}")


if __name__ == "__main__":
    main()
