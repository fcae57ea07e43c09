"""docs/mqtt-contract.md and contract.ROUTES describe the same contract."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from cherga.broker_bridge import contract

DOC = Path(__file__).resolve().parents[2] / "docs" / "mqtt-contract.md"
EXAMPLE_PARAMS = {"node": "kiosk-1", "counter": "c3"}


def _sections() -> dict[str, str]:
    text = DOC.read_text(encoding="utf-8")
    routes_part = text.split("## Routes", 1)[1].split("\n## ", 1)[0]
    parts = re.split(r"^### `([a-z_]+)`\s*$", routes_part, flags=re.M)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts), 2)}


def _field(section: str, name: str) -> str:
    m = re.search(rf"^- {name}: (.+)$", section, flags=re.M)
    assert m, f"no '- {name}:' line"
    return m.group(1).strip()


def _example(section: str) -> dict[str, object]:
    m = re.search(r"```json\n(.+?)\n```", section, flags=re.S)
    assert m, "no ```json example"
    data = json.loads(m.group(1))
    assert isinstance(data, dict)
    return data


def test_every_route_has_a_section_and_every_section_a_route() -> None:
    sections = _sections()
    assert set(sections) == set(contract.ROUTES), (
        f"in code only: {sorted(set(contract.ROUTES) - set(sections))}; in doc only: {sorted(set(sections) - set(contract.ROUTES))}")


@pytest.mark.parametrize("name", sorted(contract.ROUTES))
def test_doc_section_matches_the_route(name: str) -> None:
    route = contract.ROUTES[name]
    section = _sections()[name]
    assert _field(section, "Topic") == f"`cherga/v1/{{office}}/{route.pattern}`"
    assert _field(section, "Payload") == f"`{route.model.__name__}`"
    assert _field(section, "Publisher").startswith(f"`{route.publisher}`")
    retained, qos = (p.strip() for p in _field(section, "Retained").split("· QoS:"))
    assert retained == ("yes" if route.retained else "no")
    assert int(qos) == route.qos


@pytest.mark.parametrize("name", sorted(contract.ROUTES))
def test_doc_example_validates_against_the_model(name: str) -> None:
    route = contract.ROUTES[name]
    example = _example(_sections()[name])
    params = {p: EXAMPLE_PARAMS[p] for p in route.params}
    decoded = contract.decode(contract.topic(name, "demo", **params), json.dumps(example).encode())
    assert isinstance(decoded.message, route.model)
    assert example.get("v") == contract.VERSION


def test_a_doc_example_with_a_typo_would_be_caught() -> None:
    """GIVEN a doc example with a misspelt field THEN the same validation the test uses refuses it."""
    example = _example(_sections()["counter_command"])
    example["actoin"] = example.pop("action")
    with pytest.raises(contract.ContractError) as err:
        contract.decode(contract.topic("counter_command", "demo", counter="c3"), json.dumps(example).encode())
    assert err.value.reason == "bad_schema"
