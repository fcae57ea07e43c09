"""The ``cherga`` command: one entry point that launches every role (server, office, node, provision)."""

__version__ = "0.1.0"
