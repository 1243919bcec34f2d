"""Map each top-level folder (engine/, cli/, ...) to a package of the `shoal` namespace."""

import os

from setuptools import setup

TOP_LEVEL = ("engine", "cli", "agent", "manager", "proto")


def _packages() -> tuple[list[str], dict[str, str]]:
    packages = ["shoal"]
    package_dir = {"shoal": "shoal"}
    for top in TOP_LEVEL:
        if not os.path.isfile(os.path.join(top, "__init__.py")):
            continue
        package_dir[f"shoal.{top}"] = top
        for root, _dirs, files in os.walk(top):
            if "__init__.py" in files:
                packages.append("shoal." + root.replace(os.sep, "."))
    return packages, package_dir


PACKAGES, PACKAGE_DIR = _packages()
setup(packages=PACKAGES, package_dir=PACKAGE_DIR, package_data={"": ["*.json"]})
