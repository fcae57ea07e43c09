"""Cherga's MQTT side: the contract (topics and payloads), the bridge to the server core, broker
configuration and the embedded default broker.

Nodes import only :mod:`broker_bridge.contract`, which imports nothing else from Cherga.
"""
