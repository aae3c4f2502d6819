"""Thin Litestar handlers: parse, call a service, encode. Nothing else lives here."""
