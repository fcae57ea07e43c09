"""A network of offices (issue 21): the region file, the office's uplink of its event log and the
region's intake of it, the retained configuration going down, and the network's pages and reports.

docs/region.md says how the parts fit: each office (its own server, or one the region serves
directly) keeps working alone; its broker is bridged to the regional Mosquitto; the region keeps
every office's log in PostgreSQL.
"""
