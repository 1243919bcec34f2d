"""Time the runtime against runc on the same work: run `true` in a busybox rootfs.

Usage (root): .venv/bin/python tests/engine/runtime/bench_start.py [N]

Prints the median over N runs (default 20) of the Runtime's create+start+wait
(and +delete), of an exec's exec_create+start+wait, and of `runc run` of a
bundle with the same rootfs and namespaces, and their ratio. Not a test: a
timing is never asserted (DESIGN.md §7).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "scripts"))

from busybox_rootfs import write_rootfs  # noqa: E402

from shoal.engine.runtime.cgroups import CgroupManager  # noqa: E402
from shoal.engine.runtime.runtime import Runtime  # noqa: E402
from shoal.engine.runtime.spec import ContainerSpec, Process  # noqa: E402

ENV = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]


def ms(xs: list[float]) -> float:
    return 1000 * statistics.median(xs)


def make_bundle(runtime: str, work: Path, rootfs: Path) -> Path | None:
    """Write an OCI bundle for RUNTIME running `true` in ROOTFS (runtime's default namespaces)."""
    if not shutil.which(runtime):
        return None
    bundle = work / f"{runtime}-bundle"
    bundle.mkdir()
    subprocess.run([runtime, "spec"], cwd=bundle, check=True)
    config = json.loads((bundle / "config.json").read_text())
    config["root"] = {"path": str(rootfs), "readonly": False}
    config["process"].update(terminal=False, args=["true"], env=ENV)
    (bundle / "config.json").write_text(json.dumps(config))
    done = subprocess.run([runtime, "run", "probe"], cwd=bundle, capture_output=True)
    if done.returncode != 0:
        print(f"{runtime}: {done.stderr.decode().strip()} (skipped)")
        return None
    return bundle


def run_peer(runtime: str, bundle: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run([runtime, "run", f"bench-{uuid.uuid4().hex[:8]}"], cwd=bundle, check=True,
                   capture_output=True)  # fmt: skip
    return time.perf_counter() - t0


async def bench(work: Path, rootfs: Path, n: int) -> dict[str, float]:
    """Alternate shoal and its peers run by run, so that both see the same machine load."""
    cgroups = CgroupManager()
    parent = f"shoal-bench-{uuid.uuid4().hex[:6]}"
    rt = Runtime(work / "shims", cgroups)
    cold = Runtime(work / "shims", cgroups, spare_shims=False)
    bundles = {name: make_bundle(name, work, rootfs) for name in ("runc", "crun")}
    times: dict[str, list[float]] = {}

    def record(name: str, value: float, i: int) -> None:
        if i:  # the first round warms bytecode and page caches
            times.setdefault(name, []).append(value)

    try:
        host = ContainerSpec(id="host", rootfs=str(rootfs),
                             process=Process(args=["sleep", "1000"], env=ENV),
                             cgroup_path=f"{parent}/host")  # fmt: skip
        await rt.create(host)
        await rt.start(host.id)
        for i in range(n + 1):
            for label, runtime in (("shoal", rt), ("shoal without spare", cold)):
                spec = ContainerSpec(
                    id=f"b{i}-{label[-5:]}",
                    rootfs=str(rootfs),
                    process=Process(args=["true"], env=ENV),
                    hostname=f"b{i}",
                    cgroup_path=f"{parent}/b{i}-{label[-5:]}",
                    log_path=str(work / f"b{i}.log"),
                )
                t0 = time.perf_counter()
                await runtime.create(spec)
                t1 = time.perf_counter()
                await runtime.start(spec.id)
                t2 = time.perf_counter()
                await runtime.wait(spec.id)
                t3 = time.perf_counter()
                await runtime.delete(spec.id)
                t4 = time.perf_counter()
                record(f"{label} create", t1 - t0, i)
                record(f"{label} start", t2 - t1, i)
                record(f"{label} wait", t3 - t2, i)
                record(f"{label} create+start+wait", t3 - t0, i)
                record(f"{label} create+start+wait+delete", t4 - t0, i)
            t0 = time.perf_counter()
            await rt.exec_create(host.id, f"x{i}", Process(args=["true"], env=ENV))
            await rt.start(f"x{i}")
            await rt.wait(f"x{i}")
            record("shoal exec create+start+wait", time.perf_counter() - t0, i)
            await rt.delete(f"x{i}")
            for name, bundle in bundles.items():
                if bundle is not None:
                    record(f"{name} run", run_peer(name, bundle), i)
    finally:
        for id in rt.list():
            await rt.delete(id, force=True)
        rt.close()
        cgroups.destroy(parent)
    return {name: ms(values) for name, values in times.items()}


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    with tempfile.TemporaryDirectory(prefix="shoal-bench-") as tmp:
        work = Path(tmp)
        work.chmod(0o755)
        rootfs = work / "rootfs"
        rootfs.mkdir()
        write_rootfs(str(work / "rootfs.tar"))
        subprocess.run(["tar", "-xf", str(work / "rootfs.tar"), "-C", str(rootfs)], check=True)
        result = asyncio.run(bench(work, rootfs, n))
    print(f"median of {n} runs of `true` (busybox rootfs, pid/net/ipc/uts/mnt namespaces, cgroup)")
    for name, value in result.items():
        print(f"  {name:<48} {value:6.1f} ms")
    runc = result.get("runc run")
    if runc:
        for label in ("shoal", "shoal without spare"):
            for what in ("create+start+wait", "create+start+wait+delete"):
                name = f"{label} {what}"
                print(f"  ratio {name} / runc run = {result[name] / runc:.2f}")


if __name__ == "__main__":
    main()
