"""Persist container records as JSON files, one directory per container."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from shoal.engine.containers.errors import ContainerNotFound, NameConflict
from shoal.engine.containers.model import Container

log = logging.getLogger(__name__)


class ContainerStore:
    """Keep every container in memory, write-through to <root>/<id>/container.json."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self._by_id: dict[str, Container] = {}
        self._by_name: dict[str, str] = {}

    def load(self) -> list[Container]:
        """Read every stored container (at daemon start); skip and log unreadable ones."""
        for d in sorted(self.root.iterdir()):
            f = d / "container.json"
            try:
                c = Container.from_json(f.read_text())
            except (OSError, ValueError, TypeError, KeyError) as exc:
                log.warning("skipping unreadable container record %s: %s", f, exc)
                continue
            self._by_id[c.Id] = c
            self._by_name[c.Name] = c.Id
        return list(self._by_id.values())

    def dir(self, cid: str) -> Path:
        return self.root / cid

    def reserve(self, c: Container) -> None:
        """Register a new container (its name must be free) and write it."""
        if c.Name in self._by_name:
            other = self._by_name[c.Name]
            raise NameConflict(
                f'Conflict. The container name "/{c.Name}" is already in use by container '
                f'"{other}". You have to remove (or rename) that container to be able to '
                "reuse that name."
            )
        self._by_name[c.Name] = c.Id
        self._by_id[c.Id] = c
        try:
            self.dir(c.Id).mkdir(parents=True, exist_ok=True)
            self.save(c)
        except OSError:
            self.delete(c.Id)
            raise

    def save(self, c: Container) -> None:
        """Write C atomically."""
        path = self.dir(c.Id) / "container.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(c.to_json())
        os.replace(tmp, path)

    def delete(self, cid: str) -> None:
        """Forget the container and remove its directory."""
        c = self._by_id.pop(cid, None)
        if c is not None and self._by_name.get(c.Name) == cid:
            del self._by_name[c.Name]
        shutil.rmtree(self.dir(cid), ignore_errors=True)

    def has(self, cid: str) -> bool:
        return cid in self._by_id

    def all(self) -> list[Container]:
        return list(self._by_id.values())

    def get(self, ref: str) -> Container:
        """Find a container by full id, name, or unique id prefix."""
        ref = ref.lstrip("/")
        if ref in self._by_id:
            return self._by_id[ref]
        if ref in self._by_name:
            return self._by_id[self._by_name[ref]]
        if ref:
            matches = [c for cid, c in self._by_id.items() if cid.startswith(ref)]
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                raise ContainerNotFound(f"multiple IDs found with provided prefix: {ref}")
        raise ContainerNotFound(f"No such container: {ref}")
