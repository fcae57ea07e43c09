"""Signed updates for a node: the TUF client (:mod:`.client`) and the A/B slots with their trial (:mod:`.slots`).

See docs/updates.md. :mod:`.slots` is standard library only (it is copied next to the slots and run
by the system's python3); :mod:`.client` needs python-tuf (the ``node`` extra).
"""
