"""Telemetry adapters: Prometheus metrics and OpenTelemetry spans of our use cases."""
