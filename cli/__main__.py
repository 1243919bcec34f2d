"""Run the CLI as `python -m shoal.cli`."""

from .main import main

main()
