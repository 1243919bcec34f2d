"""Load one YAML document into plain Python values, keeping the line of every key.

PyYAML composes the node graph (anchors and aliases already linked); this
module builds the values itself so that it can record ``path -> line`` for
each mapping key and sequence item, apply ``<<`` merge keys (explicit keys
win; among merged mappings the first wins, as the YAML merge spec says),
and refuse what Compose refuses: duplicate keys, non-scalar keys, recursive
aliases. Scalars follow PyYAML's safe schema (YAML 1.1: ``yes`` is true);
keys stay the text that was written.
"""

from __future__ import annotations

import yaml

from .errors import ComposeError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .errors import Path

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MERGE = "tag:yaml.org,2002:merge"
_TAGS = {"tag:yaml.org,2002:null": "construct_yaml_null",
         "tag:yaml.org,2002:bool": "construct_yaml_bool",
         "tag:yaml.org,2002:int": "construct_yaml_int",
         "tag:yaml.org,2002:float": "construct_yaml_float"}


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def load_yaml(text: str, filename: str) -> tuple[Any, dict[Path, int]]:
    """Return (the document's value, the line of each key path); raise ComposeError."""
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = int(mark.line) + 1 if mark is not None else 0
        what = " ".join(p for p in (exc.context, exc.problem) if p)
        raise ComposeError(f"yaml: {what}", filename, line) from None
    except yaml.YAMLError as exc:
        raise ComposeError(f"yaml: {exc}", filename) from None
    if node is None:
        return None, {(): 1}
    builder = _Builder(filename)
    builder.marks[()] = _line(node)
    return builder.build(node, ()), builder.marks


class _Builder:
    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.marks: dict[Path, int] = {}
        self.active: set[int] = set()
        self.scalars = yaml.SafeLoader("")

    def fail(self, node: yaml.Node, path: Path, message: str) -> ComposeError:
        return ComposeError(message, self.filename, _line(node), path)

    def build(self, node: yaml.Node, path: Path) -> Any:
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node)
        if id(node) in self.active:
            raise self.fail(node, path, "recursive alias: an anchor is used inside itself")
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                items = []
                for i, child in enumerate(node.value):
                    self.marks[(*path, i)] = _line(child)
                    items.append(self.build(child, (*path, i)))
                return items
            assert isinstance(node, yaml.MappingNode)
            return self.mapping(node, path)
        finally:
            self.active.discard(id(node))

    def scalar(self, node: yaml.ScalarNode) -> Any:
        method = _TAGS.get(node.tag)
        if method is None:
            return node.value
        return getattr(self.scalars, method)(node)

    def mapping(self, node: yaml.MappingNode, path: Path) -> dict[str, Any]:
        out: dict[str, Any] = {}
        first: dict[str, int] = {}
        merges: list[yaml.Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                merges.append(value_node)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                raise self.fail(key_node, path, "mapping keys must be strings")
            key = str(key_node.value)
            if key in first:
                raise self.fail(key_node, (*path, key),
                                f"duplicate key (first defined at line {first[key]})")
            first[key] = _line(key_node)
            self.marks[(*path, key)] = _line(key_node)
            out[key] = self.build(value_node, (*path, key))
        for merge in merges:
            sources = merge.value if isinstance(merge, yaml.SequenceNode) else [merge]
            for src in sources:
                if not isinstance(src, yaml.MappingNode):
                    raise self.fail(src, path, "<< merges mappings only (an alias of a mapping "
                                               "or a list of them)")
                saved, self.marks = self.marks, {}
                try:
                    merged = self.build(src, path)
                    own = self.marks
                finally:
                    self.marks = saved
                for key, value in merged.items():
                    if key in out:
                        continue
                    out[key] = value
                    sub = (*path, key)
                    for p, line in own.items():
                        if p[:len(sub)] == sub:
                            self.marks[p] = line
        return out
