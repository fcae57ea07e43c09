"""Small offices built in code for the simulator tests."""

from __future__ import annotations

from typing import Any

import pytest

from cherga.server.siteconfig import SiteConfig


def office(services: list[dict[str, Any]], counters: list[dict[str, Any]], *, start: str = "00:00",
           end: str = "23:00", categories: list[dict[str, Any]] | None = None,
           call_window_s: int = 300) -> SiteConfig:
    return SiteConfig.model_validate({
        "office": {"id": "test", "names": {"uk": "Тест", "en": "Test"}},
        "services": [{"names": {"en": s["id"]}, **s} for s in services],
        "counters": counters,
        "priority_categories": [{"names": {"en": c["id"]}, **c} for c in categories or []],
        "hours": {"days": {d: [{"start": start, "end": end}] for d in ("mon", "tue", "wed", "thu", "fri")}},
        "appointments": {"early_s": 600, "late_grace_s": 600, "call_window_s": call_window_s},
    })


@pytest.fixture
def mixed_office() -> SiteConfig:
    """Three services on four desks with different weights, two priority classes."""
    return office(
        services=[{"id": "a", "prefix": "A", "mean_service_min": 5}, {"id": "b", "prefix": "B", "mean_service_min": 8},
                  {"id": "c", "prefix": "C", "mean_service_min": 3}],
        counters=[{"id": "k1", "number": "1", "services": [{"id": "a", "weight": 2}, "b"]},
                  {"id": "k2", "number": "2", "services": ["a", "c"]},
                  {"id": "k3", "number": "3", "services": [{"id": "b", "weight": 3}, "c"]},
                  {"id": "k4", "number": "4", "services": ["c"]}],
        categories=[{"id": "veteran", "weight": 2}, {"id": "disability", "weight": 3}],
        start="08:00", end="12:00",
    )
