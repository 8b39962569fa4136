"""The suite runs on the Python stack it says it does (``make test STACK=...`` sets KCB_STACK):
the versions ``requirements/<stack>.txt`` pins, and for debian12 Debian's own modules. A green
run of the wrong stack would prove nothing about the stacks the project declares."""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import re
import sys
from pathlib import Path

import pytest

REQUIREMENTS = Path(__file__).resolve().parents[1] / "requirements"
STACK = os.environ.get("KCB_STACK")
# distribution name -> module, for what the plugins and koji import
MODULES = {"requests": "requests", "urllib3": "urllib3", "PyYAML": "yaml",
           "jsonschema": "jsonschema", "python-dateutil": "dateutil", "six": "six",
           "koji": "koji", "dockerfile-parse": "dockerfile_parse", "defusedxml": "defusedxml"}
DEBIAN_DIST_PACKAGES = "/usr/lib/python3/dist-packages/"
FROM_DEBIAN = ("requests", "urllib3", "PyYAML", "jsonschema", "python-dateutil", "six")

pytestmark = pytest.mark.skipif(not STACK, reason="run through `make test STACK=...`")


def describe() -> str:
    """One line: ``stack debian12: requests 2.28.1 (/usr/lib/python3/dist-packages), ...``"""
    parts = []
    for dist, module in MODULES.items():
        try:
            version = importlib.metadata.version(dist)
            path = importlib.import_module(module).__file__
        except (ImportError, importlib.metadata.PackageNotFoundError):
            parts.append(f"{dist} MISSING")
            continue
        where = os.path.dirname(os.path.dirname(path) if path.endswith("__init__.py") else path)
        parts.append(f"{dist} {version} ({where})")
    python = ".".join(map(str, sys.version_info[:3]))
    return f"stack {STACK or '(unnamed)'}: Python {python}, " + ", ".join(parts)


def pins(stack: str) -> dict[str, str]:
    """``name==version`` lines of a constraints file (ranges such as ``Cython<3`` are not pins)."""
    found = {}
    for line in (REQUIREMENTS / f"{stack}.txt").read_text().splitlines():
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)==([^\s;#]+)", line.split("#")[0].strip())
        if match:
            found[match.group(1)] = match.group(2)
    return found


def test_installed_versions_are_the_stacks_pins():
    pinned = pins(STACK)
    installed = {name: importlib.metadata.version(name) for name in pinned}
    assert installed == pinned


def test_debian12_runs_on_debians_own_modules():
    if STACK != "debian12":
        pytest.skip("debian12 only")
    where = {name: importlib.import_module(MODULES[name]).__file__ for name in FROM_DEBIAN}
    assert {name: path for name, path in where.items()
            if not path.startswith(DEBIAN_DIST_PACKAGES)} == {}


def test_newest_has_the_new_majors():
    if STACK != "newest":
        pytest.skip("newest only")
    majors = {name: int(importlib.metadata.version(name).split(".")[0])
              for name in ("urllib3", "jsonschema")}
    assert majors["urllib3"] >= 2 and majors["jsonschema"] >= 4, majors


if __name__ == "__main__":
    print(describe())  # make test prints it before the suite
