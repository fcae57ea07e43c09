"""The scheduling simulator: replays a day of visitors against the same pure core the server runs
(``server.core``: ticket state machine, numbering, ``choose_next``, wait predictors, back-office
draw). No I/O beyond reading and writing workload files; deterministic for a seed.

* :mod:`server.sim.workload` — the workload CSV format and the day generator.
* :mod:`server.sim.engine` — the discrete-event simulation of one office day.
* :mod:`server.sim.metrics` — service-quality figures from a simulated day.
* :mod:`server.sim.policies` — policies to compare with the core's (FIFO variants).
* :mod:`server.sim.baselines` — simple wait predictors the core's predictor must beat.
"""
