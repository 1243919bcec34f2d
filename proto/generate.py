"""Generate the Python code for proto/shoal/v1/*.proto (`make proto` runs this).

The .proto files import each other as "shoal/proto/shoal/v1/<name>.proto":
protoc's include path maps the virtual root `shoal/proto` to this folder, so
the generated modules import each other as `shoal.proto.shoal.v1.<name>_pb2`,
which is where the installed package puts them. No symlinks, no rewriting.

Usage: python proto/generate.py [OUT_DIR]   (default: regenerate in place)
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
from pathlib import Path

PROTO_ROOT = Path(__file__).resolve().parent
SOURCE_DIR = PROTO_ROOT / "shoal" / "v1"
VIRTUAL_ROOT = "shoal/proto"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")
_SERVICE = re.compile(r"^service\s", re.MULTILINE)


def proto_files() -> list[Path]:
    """Return the .proto sources, sorted."""
    return sorted(SOURCE_DIR.glob("*.proto"))


def generated_files(directory: Path) -> list[Path]:
    """Return the generated modules found in DIRECTORY, sorted."""
    return sorted(p for p in directory.iterdir() if p.name.endswith(GENERATED_SUFFIXES))


def generate(out_dir: Path) -> list[Path]:
    """Run protoc over every .proto and write the modules flat into OUT_DIR.

    Returns the written files. Raises RuntimeError when protoc fails.
    """
    import grpc_tools  # a test/dev dependency, needed only to regenerate
    from grpc_tools import protoc

    well_known = Path(grpc_tools.__file__).resolve().parent / "_proto"
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="shoal-protoc-") as tmp:
        args = [
            "grpc_tools.protoc",
            f"--proto_path={VIRTUAL_ROOT}={PROTO_ROOT}",
            f"--proto_path={well_known}",
            f"--python_out={tmp}",
            f"--pyi_out={tmp}",
            f"--grpc_python_out={tmp}",
        ]
        args += [f"{VIRTUAL_ROOT}/{p.relative_to(PROTO_ROOT).as_posix()}" for p in proto_files()]
        if protoc.main(args) != 0:
            raise RuntimeError("protoc failed: " + " ".join(args))
        produced = Path(tmp) / VIRTUAL_ROOT / "shoal" / "v1"
        without_services = {p.stem for p in proto_files() if not _SERVICE.search(p.read_text())}
        written = []
        for src in generated_files(produced):
            stem = src.name.removesuffix("_pb2_grpc.py")
            if stem != src.name and stem in without_services:
                continue  # protoc's gRPC plugin writes an empty module for these
            dst = out_dir / src.name
            shutil.copyfile(src, dst)
            written.append(dst)
    return written


def main(argv: list[str]) -> int:
    """Regenerate into argv[1] or, by default, next to the .proto files."""
    out = Path(argv[1]) if len(argv) > 1 else SOURCE_DIR
    if out == SOURCE_DIR:
        for stale in generated_files(SOURCE_DIR):
            stale.unlink()
    for path in generate(out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
