"""Compose files for `shoal stack deploy`: load, interpolate, validate, merge, convert.

    yamlload     YAML -> plain values plus the line of every key (anchors, << merges)
    interpolate  ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, $$
    dotenv       the .env file next to the first Compose file
    values       one value checked and converted, errors as FILE:LINE: key.path: reason
    schema       one file validated into a canonical form; unsupported keys noted
    merge        later files override earlier ones
    project      the pipeline: load_project(files) -> Project
    convert      Project -> ServiceSpecs and network create bodies (plan_stack)

Pure logic: no daemon, no network. Imported only by the stack commands, so
PyYAML is never loaded for other commands.
"""

from __future__ import annotations

from .convert import Plan, plan_stack
from .errors import ComposeError
from .project import Project, load_project

__all__ = ["ComposeError", "Plan", "Project", "load_project", "plan_stack"]
