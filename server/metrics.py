"""Prometheus metrics of the office server: HTTP requests and latency, and the queue itself
(waiting per service, counters open, actions applied), read from the services at scrape time."""

from __future__ import annotations

import ipaddress
import os
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from cherga.server.service import OfficeService

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: who may scrape /metrics unless ``CHERGA_METRICS_FROM`` says otherwise: the server's own box (a
#: Prometheus beside it, or one reached through an SSH tunnel); "testclient" is Starlette's test client
METRICS_FROM_DEFAULT = "127.0.0.1,::1,testclient"


def may_scrape(host: str | None, allowed: str | None = None) -> bool:
    """Whether a request from ``host`` may read /metrics: the queue's figures, gateways and refusals
    are for the office's own monitoring, not for a laptop on the hall network. ``allowed``: addresses and
    networks (``10.0.5.0/24``), comma-separated; ``any`` for everyone; default ``CHERGA_METRICS_FROM``."""
    spec = allowed if allowed is not None else os.environ.get("CHERGA_METRICS_FROM", METRICS_FROM_DEFAULT)
    entries = [e.strip() for e in spec.split(",") if e.strip()]
    if "any" in entries:
        return True
    if host is None:
        return False
    if host in entries:
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    for entry in entries:
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


class QueueCollector(Collector):
    def __init__(self, services: Callable[[], Mapping[str, OfficeService]]) -> None:
        self._services = services

    def collect(self) -> Iterator[Any]:
        waiting = GaugeMetricFamily("cherga_tickets_waiting", "Tickets waiting, per service", labels=["office", "service"])
        open_ = GaugeMetricFamily("cherga_counters_open", "Counters open for a service", labels=["office", "service"])
        wait = GaugeMetricFamily("cherga_average_wait_minutes", "Average wait so far of those waiting",
                                 labels=["office", "service"])
        actions = CounterMetricFamily("cherga_service_operations", "Operations applied by the service layer",
                                      labels=["office", "operation"])
        for office, svc in self._services().items():
            for load in svc.load():
                waiting.add_metric([office, load.service], load.waiting)
                open_.add_metric([office, load.service], load.counters_open)
                wait.add_metric([office, load.service], load.avg_wait_min)
            for name, value in sorted(svc.stats.items()):
                actions.add_metric([office, name], value)
        yield from (waiting, open_, wait, actions)


class BridgeCollector(Collector):
    """The MQTT bridge's counts, read at scrape time: messages refused by reason (a node sending a
    broken payload shows up here before anybody reads a log), received, applied."""

    def __init__(self, bridge: Callable[[], Any]) -> None:
        self._bridge = bridge

    def collect(self) -> Iterator[Any]:
        refused = CounterMetricFamily("cherga_mqtt_refused", "MQTT messages the bridge refused, per reason",
                                      labels=["office", "reason"])
        handled = CounterMetricFamily("cherga_mqtt_messages", "MQTT messages the bridge handled, per outcome",
                                      labels=["office", "outcome"])
        bridge = self._bridge()
        if bridge is not None:
            office, m = bridge.office, bridge.metrics
            for reason, count in sorted(m.refused.items()):
                refused.add_metric([office, reason], count)
            for outcome, count in (("received", m.received), ("applied", m.applied), ("observed", m.observed),
                                   ("answered_error", sum(m.service_errors.values())),
                                   ("refused", sum(m.refused.values())), ("internal_error", m.internal_errors)):
                handled.add_metric([office, outcome], count)
        yield from (refused, handled)


class Metrics:
    """A registry of its own per app, so several apps in one process (tests) do not collide.

    ``bridge``: returns the running MQTT bridge (or ``None``), whose counts join the scrape."""

    def __init__(self, services: Callable[[], Mapping[str, OfficeService]],
                 bridge: Callable[[], Any] | None = None) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("cherga_http_requests", "HTTP requests", ["method", "route", "status"],
                                registry=self.registry)
        self.latency = Histogram("cherga_http_request_seconds", "HTTP request latency", ["route"],
                                 buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
                                 registry=self.registry)
        self.registry.register(QueueCollector(services))
        if bridge is not None:
            self.registry.register(BridgeCollector(bridge))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Pure ASGI (no BaseHTTPMiddleware overhead): counts and times each request by route template."""

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = [500]

        async def send_wrapper(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            name = getattr(route, "path", None) or "unmatched"
            self.metrics.requests.labels(scope.get("method", ""), name, str(status[0])).inc()
            self.metrics.latency.labels(name).observe(time.perf_counter() - start)
