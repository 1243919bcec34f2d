"""Copy-up: fill an empty volume with what the image has at the mount point, as Docker does.

Docker copies the image's directory into a volume that is empty when a
container is created with it (unless `nocopy`), and gives the volume's root
the directory's owner and mode, so that `-v data:/var/lib/postgresql/data`
starts with the image's files and permissions.
"""

from __future__ import annotations

import os
import stat
import subprocess

from shoal.engine.runtime.paths import secure_join
from shoal.engine.volumes.errors import VolumeSystemError


def image_path(rootfs: str, dest: str) -> str:
    """Return the host path of DEST in ROOTFS, its symlinks resolved inside ROOTFS."""
    return secure_join(rootfs, dest)


def copy_up(rootfs: str, dest: str, volume_dir: str, volume_name: str) -> bool:
    """Copy ROOTFS/DEST's content into VOLUME_DIR if that is empty; tell whether it copied."""
    src = image_path(rootfs, dest)
    try:
        st = os.lstat(src)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise VolumeSystemError(
            f"copy {dest} of the image into volume {volume_name}: {exc}"
        ) from exc
    if not stat.S_ISDIR(st.st_mode):
        return False
    with os.scandir(volume_dir) as it:
        if any(True for _ in it):
            return False
    with os.scandir(src) as it:
        has_content = any(True for _ in it)
    if has_content:
        proc = subprocess.run(
            ["cp", "-a", "--", f"{src}/.", f"{volume_dir}/"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            raise VolumeSystemError(
                f"copy {dest} of the image into volume {volume_name}: {proc.stderr.strip()}"
            )
    try:
        if os.geteuid() == 0:
            os.chown(volume_dir, st.st_uid, st.st_gid)
        os.chmod(volume_dir, stat.S_IMODE(st.st_mode))
    except OSError as exc:
        raise VolumeSystemError(f"copy owner of {dest} to volume {volume_name}: {exc}") from exc
    return True
