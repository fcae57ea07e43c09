"""Retention from the command line (cron or a systemd timer): fold old days, delete their raw events.

``python -m cherga.server.analytics.retention --config examples/demo-office.yaml --db sqlite:///office.db --days 180``

Raw events of local days older than ``--days`` are folded into the daily cells (so every report
keeps its numbers) and deleted, one day per transaction. The server also does this by itself
every six hours when ``CHERGA_EVENT_RETENTION_DAYS`` is set (see :mod:`server.analytics.routes`).
It also deletes notification contacts and message texts older than the office's
``notify.retention_days`` (the notifier does the same every hour while the server runs).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys

from cherga.server.analytics.store import prune
from cherga.server.notify.outbox import Outbox
from cherga.server.siteconfig import ConfigError, load_site_config
from cherga.server.store import Store


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", required=True, help="the office's site configuration (YAML)")
    parser.add_argument("--db", required=True, help="sqlite:///FILE or postgresql+psycopg://...")
    parser.add_argument("--days", type=int, required=True, help="keep this many days of raw events (at least 1)")
    args = parser.parse_args(argv)
    try:
        config = load_site_config(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.days < 1:
        print("--days must be at least 1: today's queue lives in the raw events", file=sys.stderr)
        return 2
    store = Store(args.db)
    try:
        now = dt.datetime.now(dt.UTC)
        n = prune(store, config.office.id, config.office.tz, retain_days=args.days, now=now)
        # Personal data has its own, shorter period (notify.retention_days): contacts and message texts.
        contacts, texts = Outbox(store, config.office.id).purge(now, retain_days=config.notify.retention_days)
    finally:
        store.close()
    print(f"{config.office.id}: raw events of {n} day(s) folded into the daily cells and deleted")
    print(f"{config.office.id}: {contacts} notification contact(s) and {texts} message text(s) older than "
          f"{config.notify.retention_days} days deleted")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
