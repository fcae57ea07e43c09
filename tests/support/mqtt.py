"""MQTT steps tests share: subscribe and wait until the broker has confirmed the subscription."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import paho.mqtt.client as mqtt

from tests.support.wait import WAIT_S

__all__ = ["subscribe_and_wait"]


def subscribe_and_wait(client: mqtt.Client, *filters: str, qos: int = 1, timeout: float = WAIT_S,
                       retained: bool = False) -> None:
    """Subscribe ``client`` to ``filters`` and return once the broker's SUBACK has arrived.

    After the SUBACK the broker delivers every message published to those filters, so a test may
    publish straight away instead of sleeping and hoping. The retained messages of the filters come
    after the SUBACK, though: with ``retained=True`` this also waits until they are in (it sends
    itself a marker on a private topic, which the broker queues behind them; the marker never reaches
    ``on_message``). That needs a broker that lets the client use the topic ``cherga-test/#``.
    The client's network loop must be running (``loop_start``). Fails if the broker refuses a filter.
    """
    assert filters, "nothing to subscribe to"
    acked: dict[int, list[Any]] = {}
    arrived = threading.Condition()
    previous: Any = client.on_subscribe  # a VERSION2 client: (client, userdata, mid, reason_codes, properties)
    marker = f"cherga-test/sync/{uuid.uuid4().hex}" if retained else None
    marked = threading.Event()

    def on_subscribe(c: mqtt.Client, userdata: Any, mid: int, reason_codes: list[Any], properties: Any) -> None:
        with arrived:
            acked[mid] = list(reason_codes)
            arrived.notify_all()
        if previous is not None:
            previous(c, userdata, mid, reason_codes, properties)

    # Installed before subscribing: a SUBACK may come back before subscribe() has returned its mid.
    client.on_subscribe = on_subscribe
    if marker:
        client.message_callback_add(marker, lambda c, u, m: marked.set())
    try:
        wanted = [*filters, marker] if marker else list(filters)
        rc, mid = client.subscribe([(f, qos) for f in wanted])
        assert rc == mqtt.MQTT_ERR_SUCCESS and mid is not None, f"subscribe failed: {mqtt.error_string(rc)}"
        with arrived:
            got = arrived.wait_for(lambda: mid in acked, timeout)
        assert got, f"no SUBACK for {filters} within {timeout:g} s"
        refused = [f for f, code in zip(wanted, acked[mid], strict=True) if getattr(code, "is_failure", False)]
        assert not refused, f"the broker refused the subscription to {refused}"
        if marker:
            client.publish(marker, b"", qos=1)
            assert marked.wait(timeout), f"the retained messages of {filters} did not arrive within {timeout:g} s"
            client.unsubscribe(marker)
    finally:
        client.on_subscribe = previous
        if marker:
            client.message_callback_remove(marker)
