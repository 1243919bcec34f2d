"""`docker rmi` semantics: untag, then delete the image when no reference is left.

Follows Docker's rules (daemon/images/image_delete.go), with one simplification:
a container using the image is a "soft" conflict that `force` overrides (the
in_use callback does not tell running from stopped containers).

- by reference: untag it (and the repository's digest references when its last
  tag goes); delete the image if nothing names it any more. Refused without
  force when that reference is the image's only name and a container uses it.
- by id: refused without force if several repositories name the image or a
  container uses it; else every reference is removed and the image deleted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shoal.engine.images import digest as dg
from shoal.engine.images.errors import ImageInUse
from shoal.engine.images.reference import Reference
from shoal.engine.images.refstore import ReferenceStore

# Returns a truthy value when a container uses the image id; a string is taken
# as that container's id and named in the error.
InUse = Callable[[str], Any]


def is_single_reference(names: list[Reference]) -> bool:
    """Tell whether NAMES are one tag and/or digests, all of a single repository."""
    if len(names) <= 1:
        return len(names) == 1
    tags = [r for r in names if r.digest is None]
    repos = {r.name for r in names if r.digest is not None}
    if len(tags) > 1:
        return False
    single = tags[0] if tags else names[0]
    return len(repos) == 1 and single.name in repos


def _user(in_use: InUse | None, image_id: str) -> str | None:
    """Return a description of the container using IMAGE_ID, or None if none does."""
    if in_use is None:
        return None
    used = in_use(image_id)
    if not used:
        return None
    return dg.short(used) if isinstance(used, str) else "(a container)"


def remove(
    image_id: str,
    named: Reference | None,
    store: ReferenceStore,
    delete: Callable[[str], Any],
    force: bool = False,
    in_use: InUse | None = None,
) -> list[dict[str, str]]:
    """Untag and/or delete IMAGE_ID (NAMED: the reference the user gave, if any).

    DELETE(image_id) forgets the image. Return Docker's records
    ([{"Untagged": "busybox:latest"}, {"Deleted": "sha256:..."}]).
    """
    out: list[dict[str, str]] = []
    names = store.of_image(image_id)
    short = dg.short(image_id)
    if named is not None:
        if not force and is_single_reference(names):
            user = _user(in_use, image_id)
            if user is not None:
                raise ImageInUse(
                    f"conflict: unable to remove repository reference {named.familiar()!r} "
                    f"(must force) - container {user} is using its referenced image {short}"
                )
        store.delete(named)
        out.append({"Untagged": named.familiar()})
        names = store.of_image(image_id)
        if named.digest is None and not any(
            r.digest is None and r.name == named.name for r in names
        ):
            for r in [r for r in names if r.digest is not None and r.name == named.name]:
                store.delete(r)
                out.append({"Untagged": r.familiar()})
            names = store.of_image(image_id)
        if names:
            return out
    else:
        if not force:
            if names and not is_single_reference(names):
                raise ImageInUse(
                    f"conflict: unable to delete {short} (must be forced) - "
                    "image is referenced in multiple repositories"
                )
            user = _user(in_use, image_id)
            if user is not None:
                raise ImageInUse(
                    f"conflict: unable to delete {short} (must be forced) - "
                    f"image is being used by container {user}"
                )
        for r in names:
            store.delete(r)
            out.append({"Untagged": r.familiar()})
    delete(image_id)
    out.append({"Deleted": image_id})
    return out
