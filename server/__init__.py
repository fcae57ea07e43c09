"""Cherga office server: site configuration, the pure scheduling core, the store and the REST API.

Importing this package imports nothing heavy; the web and database parts live in submodules that
only the server role loads.
"""
