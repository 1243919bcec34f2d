"""Containers: records, store, lifecycle service, logs, execs."""
