"""Namespace mirroring the proto package path `shoal.v1` (generated code lives below)."""
