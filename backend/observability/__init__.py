"""Observability: the turn's request id, JSON logs without personal data, Prometheus metrics."""
