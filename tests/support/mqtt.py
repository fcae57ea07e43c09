"""MQTT steps tests share: subscribe and wait until the broker has confirmed the subscription."""

from __future__ import annotations

import threading
from typing import Any

import paho.mqtt.client as mqtt

from tests.support.wait import WAIT_S

__all__ = ["subscribe_and_wait"]


def subscribe_and_wait(client: mqtt.Client, *filters: str, qos: int = 1, timeout: float = WAIT_S) -> None:
    """Subscribe ``client`` to ``filters`` and return once the broker's SUBACK has arrived.

    After the SUBACK the broker delivers every message published to those filters (and has sent the
    retained ones first), so a test may publish straight away instead of sleeping and hoping. The
    client's network loop must be running (``loop_start``). Fails if the broker refuses a filter.
    """
    assert filters, "nothing to subscribe to"
    acked: dict[int, list[Any]] = {}
    arrived = threading.Condition()
    previous: Any = client.on_subscribe  # a VERSION2 client: (client, userdata, mid, reason_codes, properties)

    def on_subscribe(c: mqtt.Client, userdata: Any, mid: int, reason_codes: list[Any], properties: Any) -> None:
        with arrived:
            acked[mid] = list(reason_codes)
            arrived.notify_all()
        if previous is not None:
            previous(c, userdata, mid, reason_codes, properties)

    # Installed before subscribing: a SUBACK may come back before subscribe() has returned its mid.
    client.on_subscribe = on_subscribe
    try:
        rc, mid = client.subscribe([(f, qos) for f in filters])
        assert rc == mqtt.MQTT_ERR_SUCCESS and mid is not None, f"subscribe failed: {mqtt.error_string(rc)}"
        with arrived:
            got = arrived.wait_for(lambda: mid in acked, timeout)
        assert got, f"no SUBACK for {filters} within {timeout:g} s"
        refused = [f for f, code in zip(filters, acked[mid], strict=True) if getattr(code, "is_failure", False)]
        assert not refused, f"the broker refused the subscription to {refused}"
    finally:
        client.on_subscribe = previous
