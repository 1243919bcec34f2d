"""Errors of the image service (subclasses of shoal.engine.errors).

ImageNotFound(NotFound)          no image has that reference, id or id prefix
BlobNotFound(NotFound)           a digest is not in the content store
LayerNotFound(NotFound)          no image holds a layer with that diff id / digest
InvalidReference(InvalidArgument)  a malformed image reference or tag
AmbiguousImageID(InvalidArgument)  a short id matches several images
DigestMismatch(InvalidArgument)  content does not hash to the digest it claims
InvalidArchive(InvalidArgument)  a tarball is not a valid docker-archive / OCI layout / rootfs
InvalidChange(InvalidArgument)   a `--change` line of `import` is malformed
ImageInUse(Conflict)             removal refused: a container uses it, or several repos name it
"""

from shoal.engine.errors import Conflict, InvalidArgument, NotFound


class ImageNotFound(NotFound):
    """No image has that reference, id or id prefix."""

    def __init__(self, ref: str) -> None:
        super().__init__(f"No such image: {ref}")
        self.ref = ref


class BlobNotFound(NotFound):
    """A digest is not in the content store."""


class LayerNotFound(NotFound):
    """No image holds a layer with that diff id or blob digest."""


class InvalidReference(InvalidArgument):
    """A malformed image reference or tag."""


class AmbiguousImageID(InvalidArgument):
    """A short image id matches more than one image."""


class DigestMismatch(InvalidArgument):
    """Content does not hash to the digest it claims."""


class InvalidArchive(InvalidArgument):
    """A tarball is not a valid docker-archive, OCI image layout or rootfs tar."""


class InvalidChange(InvalidArgument):
    """A Dockerfile-style change line (`import --change`) is malformed."""


class ImageInUse(Conflict):
    """Removal refused: a container uses the image or several repositories reference it."""
