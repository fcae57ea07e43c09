"""The pure scheduling core: tickets and their state machine, numbering, the choice of the next
ticket, no-show rules, back-office assignment and wait prediction.

Nothing here does I/O or reads a clock: every function receives ``now``. The server, the
simulator and the benchmarks all run this same code.
"""
