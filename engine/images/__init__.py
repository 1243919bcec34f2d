"""Images: content store, references, image records, import/load/save (docker-compatible)."""

from shoal.engine.images.model import Image, Layer
from shoal.engine.images.reference import Reference, parse
from shoal.engine.images.service import ImageService

__all__ = ["Image", "ImageService", "Layer", "Reference", "parse"]
