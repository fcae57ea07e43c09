"""Benchmark: the informing search (issue 18) over the example offices' service information.

Builds the in-memory index from examples/demo-office.yaml (12 services, five languages) and
examples/kryvyi-rih.yaml (24 services), then times queries a citizen would type: exact words,
misspellings in uk/ru/ky/kk/en, several words, and a word that matches nothing; warm (the index
keeps each word's matches: citizens type the same words) and cold (a fresh index per query). Also reports the kiosk's retained config size with the information
(the contract's payload limit is 64 KiB).

    .venv/bin/python bench/informing_search.py [--quick]

Target: a cold query (no cached word) ≤ 20 ms, so a search page answers at typing speed. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cherga.broker_bridge.contract import MAX_PAYLOAD  # noqa: E402
from cherga.broker_bridge.nodeconfig import build_node_config  # noqa: E402
from cherga.server.informing.search import SearchIndex  # noqa: E402
from cherga.server.siteconfig import Node, load_site_config  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
QUERIES = ["паспорт", "пасорт", "прописка", "свидетелство о рождени", "торолгонун каттоо", "жургизуши куалиги",
           "pasport", "driving license", "народження дитини", "субсидия", "реєстрацыя місця проживання",
           "космодром", "довідка про склад сім'ї", "жер тилкеси"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (well under 60 s)")
    args = parser.parse_args()
    rounds = 20 if args.quick else 200
    out: dict[str, object] = {"bench": "informing_search", "quick": args.quick}
    for name in ("demo-office", "kryvyi-rih"):
        cfg = load_site_config(EXAMPLES / f"{name}.yaml")
        t0 = time.perf_counter()
        index = SearchIndex.build(cfg)
        build_ms = (time.perf_counter() - t0) * 1000
        times = []
        for _ in range(rounds):
            for q in QUERIES:
                t = time.perf_counter()
                index.search(q)
                times.append((time.perf_counter() - t) * 1000)
        times.sort()
        # Cold: a fresh index per query, so no word's matches are cached (a citizen's first, odd word).
        cold = []
        for _ in range(max(1, rounds // 10)):
            for q in QUERIES:
                fresh = SearchIndex.build(cfg)
                t = time.perf_counter()
                fresh.search(q)
                cold.append((time.perf_counter() - t) * 1000)
        cold.sort()
        kiosk = len(build_node_config(cfg, Node(id="kiosk-1", role="kiosk")).to_bytes())
        key = name.split("-")[0] if name != "kryvyi-rih" else "kryvyi_rih"
        out[key] = {"services": len(cfg.services), "with_info": sum(1 for s in cfg.services if s.info),
                    "vocabulary": len(index.vocabulary), "build_ms": round(build_ms, 2),
                    "query_p50_ms": round(statistics.median(times), 3),
                    "query_p99_ms": round(times[int(len(times) * 0.99) - 1], 3),
                    "queries": len(times), "cold_query_p50_ms": round(statistics.median(cold), 3),
                    "cold_query_max_ms": round(cold[-1], 3), "kiosk_config_bytes": kiosk,
                    "kiosk_config_share_of_limit": round(kiosk / MAX_PAYLOAD, 3)}
        print(f"{name}: {out[key]}", file=sys.stderr)
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
