"""The overlay snapshotter: image layers unpacked once by chain id, container rootfs mounts.

Layout under ROOT:

    layers/<chain id hex>/fs         a layer unpacked (whiteouts as overlayfs wants them)
    layers/<chain id hex>/meta.json  diff id, parent chain id, size
    l/<16 hex>                       short symlink to a layer's fs, to keep mount options short
    locks/<chain id hex>             flock taken while a layer is unpacked
    containers/<key>/{upper,work,merged,meta.json}   a container's rw layer and mount point
    empty/                           the lower dir of an image without layers
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

from shoal.engine.errors import InvalidArgument
from shoal.engine.snapshots import mounts
from shoal.engine.snapshots.errors import MountFailed, SnapshotExists, SnapshotNotFound
from shoal.engine.snapshots.unpack import unpack_layer

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_SHORT = 16


class LayerSource(Protocol):
    """What the snapshotter needs from the image service."""

    def open_layer(self, diff_id_or_digest: str) -> BinaryIO: ...


class ImageLike(Protocol):
    """What the snapshotter needs from an image."""

    id: str

    @property
    def diff_ids(self) -> list[str]: ...

    def chain_ids(self) -> list[str]: ...


def _hex(digest: str) -> str:
    return digest.split(":", 1)[-1]


def _overlay_extra() -> str:
    """Return extra overlay options: index=off where the kernel enables the index."""
    try:
        index = Path("/sys/module/overlay/parameters/index").read_text().strip()
    except OSError:
        return ""
    return ",index=off" if index == "Y" else ""


class Snapshotter:
    """Unpack image layers and mount container root filesystems with overlayfs."""

    def __init__(self, root: Path, images: LayerSource) -> None:
        self.root = Path(root).absolute()
        self.images = images
        for d in ("layers", "l", "locks", "containers", "empty"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        for stale in self.root.glob("layers/*/.fs-*"):  # unpacks cut short by a crash
            shutil.rmtree(stale, ignore_errors=True)
        self._extra = _overlay_extra()

    # -- layers -------------------------------------------------------------------

    def layer_dir(self, chain_id: str) -> Path:
        return self.root / "layers" / _hex(chain_id)

    @contextlib.contextmanager
    def _flock(self, chain_id: str) -> Iterator[None]:
        with open(self.root / "locks" / _hex(chain_id), "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def _link(self, chain_id: str) -> str:
        """Make (if needed) and return the short link name of a layer's fs."""
        name = _hex(chain_id)[:_SHORT]
        link = self.root / "l" / name
        target = f"../layers/{_hex(chain_id)}/fs"
        try:
            os.symlink(target, link)
        except FileExistsError:
            if os.readlink(link) != target:
                raise MountFailed(f"short layer link {link} collides with another layer") from None
        return name

    def ensure_layers(self, image: ImageLike) -> list[Path]:
        """Unpack IMAGE's layers not unpacked yet; return their fs dirs, bottom first.

        Safe under concurrent callers: a layer is unpacked under a per-chain-id
        file lock into a temp dir renamed into place.
        """
        out = []
        parent = ""
        for chain_id, diff_id in zip(image.chain_ids(), image.diff_ids, strict=True):
            d = self.layer_dir(chain_id)
            if not (d / "fs").is_dir():
                with self._flock(chain_id):
                    if not (d / "fs").is_dir():
                        d.mkdir(exist_ok=True)
                        with self.images.open_layer(diff_id) as stream:
                            size = unpack_layer(stream, d / "fs", diff_id)
                        meta = {
                            "chain_id": chain_id,
                            "diff_id": diff_id,
                            "parent": parent,
                            "size": size,
                        }
                        (d / "meta.json").write_text(json.dumps(meta))
            self._link(chain_id)
            out.append(d / "fs")
            parent = chain_id
        return out

    def adopt_layer(self, chain_id: str, diff_id: str, parent: str, src: Path) -> bool:
        """Move the directory SRC into place as the unpacked layer CHAIN_ID; tell if it was used.

        SRC must already be in the form unpack_layer writes (overlay whiteouts), as
        a container's upper dir is once unmounted: the builder adopts it instead of
        unpacking the layer tar it wrote from it. When CHAIN_ID is present already,
        SRC is left where it is (the caller deletes it).
        """
        d = self.layer_dir(chain_id)
        with self._flock(chain_id):
            if (d / "fs").is_dir():
                return False
            d.mkdir(exist_ok=True)
            size = sum(
                os.lstat(os.path.join(top, n)).st_size
                for top, _dirs, files in os.walk(src)
                for n in files
            )
            os.rename(src, d / "fs")
            meta = {"chain_id": chain_id, "diff_id": diff_id, "parent": parent, "size": size}
            (d / "meta.json").write_text(json.dumps(meta))
        self._link(chain_id)
        return True

    def layers(self) -> list[str]:
        """Return the chain ids of the unpacked layers."""
        return sorted(
            f"sha256:{p.name}" for p in (self.root / "layers").iterdir() if (p / "fs").is_dir()
        )

    def prune_layers(self, keep_chain_ids: Iterable[str]) -> list[str]:
        """Delete unpacked layers neither in KEEP_CHAIN_IDS nor used by a snapshot; list them.

        KEEP_CHAIN_IDS must hold whole chains (every image's chain_ids()).
        """
        keep = set(keep_chain_ids)
        for meta in (self.root / "containers").glob("*/meta.json"):
            keep.update(json.loads(meta.read_text()).get("chain_ids", []))
        removed = []
        for chain_id in self.layers():
            if chain_id in keep:
                continue
            with self._flock(chain_id):
                (self.root / "l" / _hex(chain_id)[:_SHORT]).unlink(missing_ok=True)
                shutil.rmtree(self.layer_dir(chain_id))
            (self.root / "locks" / _hex(chain_id)).unlink(missing_ok=True)
            removed.append(chain_id)
        return removed

    # -- container snapshots ----------------------------------------------------------

    def _dir(self, key: str) -> Path:
        if not isinstance(key, str) or not _KEY.match(key):
            raise InvalidArgument(f"invalid snapshot key {key!r}")
        return self.root / "containers" / key

    def _mount(self, key: str, chain_ids: list[str]) -> Path:
        d = self._dir(key)
        merged = d / "merged"
        links = [f"l/{self._link(c)}" for c in reversed(chain_ids)] or ["empty"]
        lower = ":".join(f"{self.root}/{x}" for x in links)
        opts = f"lowerdir={lower},upperdir={d}/upper,workdir={d}/work{self._extra}"
        if len(opts) < mounts.PAGE:
            mounts.mount_overlay(str(merged), opts)
            return merged
        rel = f"containers/{key}"  # too long: name everything relative to the root
        opts = f"lowerdir={':'.join(links)},upperdir={rel}/upper,workdir={rel}/work{self._extra}"
        mounts.mount_overlay(str(merged), opts, cwd=str(self.root))
        return merged

    def prepare(self, key: str, image: ImageLike) -> Path:
        """Create snapshot KEY (upper, work, merged) on IMAGE's layers, mount it; return merged."""
        d = self._dir(key)
        if d.exists():
            raise SnapshotExists(f"snapshot {key} already exists")
        self.ensure_layers(image)
        try:
            d.mkdir()
        except FileExistsError:
            raise SnapshotExists(f"snapshot {key} already exists") from None
        try:
            for sub in ("upper", "work", "merged"):
                (d / sub).mkdir(mode=0o755)
            meta = {"image": image.id, "chain_ids": image.chain_ids()}
            (d / "meta.json").write_text(json.dumps(meta))
            return self._mount(key, image.chain_ids())
        except BaseException:
            shutil.rmtree(d, ignore_errors=True)
            raise

    def mount(self, key: str, image: ImageLike) -> Path:
        """Mount snapshot KEY if it is not mounted (after a restart); return merged."""
        d = self._dir(key)
        if not d.is_dir():
            raise SnapshotNotFound(f"no snapshot {key}")
        merged = d / "merged"
        if mounts.is_mounted(str(merged)):
            return merged
        try:
            chain_ids = json.loads((d / "meta.json").read_text())["chain_ids"]
        except (OSError, ValueError, KeyError):
            chain_ids = image.chain_ids()
        if not all((self.layer_dir(c) / "fs").is_dir() for c in chain_ids):
            if image.chain_ids() != chain_ids:
                raise MountFailed(f"snapshot {key}: its layers are gone and {image.id} has others")
            self.ensure_layers(image)
        return self._mount(key, chain_ids)

    def upper_dir(self, key: str) -> Path:
        """Return the upper (read-write) dir of snapshot KEY."""
        return self._dir(key) / "upper"

    def is_mounted(self, key: str) -> bool:
        return mounts.is_mounted(str(self._dir(key) / "merged"))

    def unmount(self, key: str) -> None:
        """Unmount snapshot KEY (lazily if it is busy); do nothing if it is not mounted."""
        merged = str(self._dir(key) / "merged")
        for _ in range(8):  # a mount point may hold stacked mounts
            if not mounts.is_mounted(merged):
                return
            try:
                mounts.umount(merged)
            except MountFailed:
                mounts.umount(merged, mounts.MNT_DETACH)
        raise MountFailed(f"snapshot {key}: {merged} stays mounted")

    def remove(self, key: str) -> None:
        """Unmount and delete snapshot KEY; do nothing if it does not exist."""
        d = self._dir(key)
        if not d.exists():
            return
        self.unmount(key)
        shutil.rmtree(d)

    def list(self) -> list[str]:
        """Return the keys of every snapshot."""
        return sorted(p.name for p in (self.root / "containers").iterdir() if p.is_dir())
