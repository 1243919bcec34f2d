"""Load Compose files into one Project: read, interpolate, validate, merge.

For each file in order: parse YAML keeping lines (yamlload), substitute
variables (interpolate; values from the environment, then from a ``.env``
next to the first file), validate and canonicalise (schema). Then merge the
files (merge). ``x-`` top-level sections are neither interpolated nor
validated: they exist to be referenced through YAML anchors.
"""

from __future__ import annotations

import os
import sys

from .dotenv import parse_dotenv
from .errors import ComposeError
from .interpolate import InterpolationError, Interpolator
from .marks import Marks
from .merge import merge_files
from .schema import check_file
from .values import Checker
from .yamlload import load_yaml

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from .errors import Path


class Project:
    """The merged, canonical services, networks and volumes of a set of Compose files."""

    def __init__(self, config: dict[str, Any], marks: Marks, base_dir: str,
                 environ: Mapping[str, str], warnings: list[str]) -> None:
        self.services: dict[str, dict[str, Any]] = config.get("services") or {}
        self.networks: dict[str, dict[str, Any]] = config.get("networks") or {}
        self.volumes: dict[str, dict[str, Any]] = config.get("volumes") or {}
        self.marks = marks
        self.base_dir = base_dir
        self.environ = environ
        self.warnings = warnings


def _read(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        raise ComposeError(f"open {path}: no such file or directory") from None
    except OSError as exc:
        raise ComposeError(f"open {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ComposeError(f"{path}: not a UTF-8 text file") from None


def interpolate_tree(doc: Any, interp: Interpolator, marks: Marks, path: Path = ()) -> Any:
    """Return doc with variables substituted in every string value (not in keys)."""
    if isinstance(doc, str):
        try:
            return interp(doc)
        except InterpolationError as exc:
            raise marks.error(path, str(exc)) from None
    if isinstance(doc, dict):
        return {k: v if (not path and k.startswith("x-"))
                else interpolate_tree(v, interp, marks, (*path, k)) for k, v in doc.items()}
    if isinstance(doc, list):
        return [interpolate_tree(v, interp, marks, (*path, i)) for i, v in enumerate(doc)]
    return doc


def load_project(files: list[str], environ: Mapping[str, str] | None = None) -> Project:
    """Load, interpolate, validate and merge Compose files (later files override)."""
    if not files:
        raise ComposeError("please specify a Compose file (with --compose-file)")
    env = dict(os.environ if environ is None else environ)
    base_dir = os.getcwd() if files[0] == "-" else os.path.dirname(os.path.abspath(files[0]))
    dotenv_path = os.path.join(base_dir, ".env")
    if os.path.isfile(dotenv_path):
        try:
            defaults = parse_dotenv(_read(dotenv_path), env, dotenv_path)
        except ValueError as exc:
            raise ComposeError(str(exc)) from None
        env = {**defaults, **env}
    interp = Interpolator(env.get)
    configs, marks, unsupported = [], Marks(), set()
    for path in files:
        name = "stdin" if path == "-" else path
        doc, lines = load_yaml(_read(path), name)
        file_marks = Marks(name, lines)
        doc = interpolate_tree(doc, interp, file_marks)
        ck = Checker(file_marks, base_dir if path == "-" else
                     os.path.dirname(os.path.abspath(path)))
        configs.append(check_file(ck, doc))
        marks.update(file_marks)
        unsupported |= ck.unsupported
    warnings = [f'The "{name}" variable is not set. Defaulting to a blank string.'
                for name in interp.unset]
    if unsupported:
        warnings.append("Ignoring unsupported options: " + ", ".join(sorted(unsupported)))
    return Project(merge_files(configs), marks, base_dir, env, warnings)
