"""The REST API (``/api/v1``): one router per resource, combined by :func:`server.app.create_app`."""
