"""Offline sync: the protocol, the server-side engine, and a reference client."""
