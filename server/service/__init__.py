"""The service layer: the one place that applies actions (see ``docs/service-layer.md``).

The REST API, the MQTT bridge, the operator panel and the HIL harness all call
:class:`OfficeService`. Each mutating call runs under the office lock: it asks the pure core
what to do, writes the change (ticket rows, the append-only event log, the command id) in one
store transaction, commits it durably, then updates the in-memory view and tells listeners.

One module per job, lowest layer first:

=================  ===============================================================================
``results``        what the service returns and hands to listeners; the traffic light
``base``           the shared state and the config look-ups
``learning``       what the wait predictor learns from the office
``views``          the reads: ticket info, counter and hall state, load, the waiting list
``sync``           several processes on one database: start-up load, log sync, refresh
``group_commit``   the durable batch: savepoints, one fsync for many calls, listeners after commit
``commands``       the command runner: exactly once per command id, resends, reused ids
``issuing``        walk-in tickets, check-ins, offline tickets
``counters``       the counter buttons
``hall_manager``   removing a ticket, sending it to one counter
``booking``        appointments and the missed-booking sweep
``office``         :class:`OfficeService`, the front that assembles them, and the periodic sweep
=================  ===============================================================================
"""

from __future__ import annotations

from cherga.server.service.office import OfficeService
from cherga.server.service.results import ActionResult, Change, light_for, utc_now

__all__ = ["ActionResult", "Change", "OfficeService", "light_for", "utc_now"]
