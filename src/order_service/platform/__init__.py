"""Plumbing without business rules: settings, logging, lifecycle, the server runner."""
