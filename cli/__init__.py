"""The `shoal` command line client."""
