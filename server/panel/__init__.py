"""The operator panel: counter and hall-manager pages served by the office server (see router)."""
