"""The RPM spec: rpmbuild accepts it, and its %files ship exactly what ``pip install`` ships,
the plugin files, and the configuration files the plugins read."""

from __future__ import annotations

import configparser
import fnmatch
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

import koji_containerbuild
from koji_containerbuild import config

REPO = Path(__file__).resolve().parents[1]
SPEC = REPO / "koji-containerbuild.spec"
SPEC_TEXT = SPEC.read_text(encoding="utf-8")
VERSION = koji_containerbuild.__version__
SITELIB = "SITELIB/"
# Not part of the source tree: local state, caches and build output.
SKIP_TOP = {".git", ".venv", ".venv-oldest", ".venv-debian12", "build", "dist", ".pytest_cache",
            ".ruff_cache", "sandbox-run"}
PLUGIN_DIRS = {"hub_plugin": "/usr/lib/koji-hub-plugins",
               "builder_plugin": "/usr/lib/koji-builder-plugins"}
MACROS = {"%{python3_sitelib}/": SITELIB, "%{version}": VERSION, "%{name}": "koji-containerbuild",
          "%{_prefix}": "/usr", "%{_sysconfdir}": "/etc"}


def source_files() -> list[Path]:
    """The files of the source tree, as a release tarball would hold them."""
    found = []
    for root, dirs, files in os.walk(REPO):
        rel_root = Path(root).relative_to(REPO)
        dirs[:] = sorted(d for d in dirs if d != "__pycache__" and not d.endswith(".egg-info")
                         and not (rel_root == Path(".") and d in SKIP_TOP))
        found += [rel_root / name for name in sorted(files) if not name.endswith(".pyc")]
    return found


def write_source_tarball(dest: Path) -> Path:
    """Source0 of the spec: the tree under koji-containerbuild-<version>/ (no sdist step)."""
    tarball = dest / f"koji-containerbuild-{VERSION}.tar.gz"
    with tarfile.open(tarball, "w:gz") as archive:
        for rel in source_files():
            archive.add(REPO / rel, arcname=f"koji-containerbuild-{VERSION}/{rel}")
    return tarball


def expand(text: str) -> str:
    for macro, value in MACROS.items():
        text = text.replace(macro, value)
    assert "%{" not in text, f"unexpanded macro in {text!r}"
    return text


def files_sections() -> dict[str, list[str]]:
    """%files entries per package, directives stripped, %doc/%license lines left out."""
    sections: dict[str, list[str]] = {}
    current = None
    for line in SPEC_TEXT.splitlines():
        if line.startswith("%files"):
            words = line.split()
            current = ("koji-containerbuild-" + words[1] if len(words) == 2
                       else words[2] if len(words) > 2 else "koji-containerbuild")
            sections[current] = []
        elif line.startswith("%") and not line.startswith(("%dir", "%config", "%doc",
                                                           "%license", "%{")):
            current = None
        elif current and line.strip() and not line.startswith(("%doc", "%license")):
            entry = re.sub(r"^(%dir|%config\([^)]*\)|%config)\s+", "", line.strip())
            sections[current].append(expand(entry))
    return sections


def install_sources() -> dict[str, str]:
    """Tree file → installed path, from the ``install -D ... <file> %{buildroot}<path>`` lines."""
    joined = SPEC_TEXT.replace("\\\n", " ")
    return {src: expand(dst) for src, dst in
            re.findall(r"^install -D -p -m \d+ (\S+)\s+%\{buildroot\}(\S+)", joined, re.M)}


def test_spec_version_is_the_package_version():
    [version] = re.findall(r"^Version:\s*(\S+)$", SPEC_TEXT, re.M)
    assert version == VERSION


def _name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _version(text: str) -> tuple[int, ...]:
    parts = [int(part) for part in text.split(".")]
    while parts and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def install_requires() -> dict[str, str]:
    """setup.cfg's ``install_requires``: name -> lower bound."""
    parser = configparser.ConfigParser()
    parser.read(REPO / "setup.cfg", encoding="utf-8")
    lines = [line.strip() for line in parser["options"]["install_requires"].splitlines()]
    found = {}
    for line in filter(None, lines):
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)>=([0-9.]+)", line)
        assert match, f"setup.cfg: {line!r} has no lower bound (name>=version)"
        found[_name(match.group(1))] = match.group(2)
    return found


def requirement_names(path: Path) -> set[str]:
    return {_name(re.split(r"[<>=!~;\s]", line, maxsplit=1)[0])
            for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.lstrip().startswith("#")}


def test_spec_requires_the_lower_bounds_of_setup_cfg():
    spec = {_name(name): version for name, version in
            re.findall(r"^Requires:\s*python3dist\(([^)]+)\)\s*>=\s*(\S+)$", SPEC_TEXT, re.M)}
    assert spec == install_requires()


def test_the_oldest_stack_pins_exactly_the_declared_lower_bounds():
    pins = {_name(name): version for name, version in re.findall(
        r"^([A-Za-z0-9_.-]+)==(\S+)$", (REPO / "requirements/oldest.txt").read_text(), re.M)}
    declared = install_requires()
    assert {name: _version(pins.get(name, "0")) for name in declared} == \
        {name: _version(version) for name, version in declared.items()}


def test_every_stack_installs_what_setup_cfg_declares():
    """The Makefile installs koji --no-deps plus requirements/runtime.txt, not setup.cfg's
    list: a dependency added to one and not the other would be missing from every venv."""
    runtime = requirement_names(REPO / "requirements/runtime.txt")
    assert set(install_requires()) - {"koji"} <= runtime
    parser = configparser.ConfigParser()
    parser.read(REPO / "setup.cfg", encoding="utf-8")
    extras = {_name(line) for line in parser["options.extras_require"]["tests"].split()}
    assert extras == requirement_names(REPO / "requirements/tests.txt")


def test_spec_has_the_four_packages():
    assert set(files_sections()) == {"python3-koji-containerbuild", "koji-containerbuild-hub",
                                     "koji-containerbuild-builder", "koji-containerbuild-cli"}


@pytest.fixture(scope="module")
def wheel_files(tmp_path_factory) -> list[str]:
    """What ``pip install`` puts into site-packages: the wheel built from a copy of the tree."""
    tmp = tmp_path_factory.mktemp("wheel")
    tree = tmp / "tree"
    for rel in source_files():
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, tree / rel)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "--quiet", str(tree), "-w", str(tmp / "out")],
        capture_output=True, text=True, cwd=tmp)
    assert built.returncode == 0, built.stderr
    [wheel] = (tmp / "out").glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return [name for name in archive.namelist() if not name.endswith("/")]


def test_spec_files_in_site_packages_are_exactly_what_pip_installs(wheel_files):
    entries = [entry[len(SITELIB):] for section in files_sections().values()
               for entry in section if entry.startswith(SITELIB) and "__pycache__" not in entry]

    def covers(entry: str, name: str) -> bool:
        return name.startswith(entry) if entry.endswith("/") else fnmatch.fnmatch(name, entry)

    unpackaged = [name for name in wheel_files if not any(covers(e, name) for e in entries)]
    assert not unpackaged, f"pip installs these, the spec does not ship them: {unpackaged}"
    stale = [entry for entry in entries if not any(covers(entry, n) for n in wheel_files)]
    assert not stale, f"the spec ships these, pip does not install them: {stale}"
    assert f"koji_containerbuild-{VERSION}.dist-info/" in entries


def test_every_python_file_listed_alone_ships_its_bytecode():
    for entries in files_sections().values():
        for entry in entries:
            if entry.endswith(".py"):
                folder, name = entry.rsplit("/", 1)
                assert f"{folder}/__pycache__/{name[:-3]}.*" in entries, entry


def test_spec_installs_each_koji_plugin_file_into_koji_plugin_path():
    installed = install_sources()
    shipped = [entry for entries in files_sections().values() for entry in entries]
    for folder, plugin_path in PLUGIN_DIRS.items():
        for plugin in (REPO / folder).glob("*.py"):
            target = f"{plugin_path}/{plugin.name}"
            assert installed.get(f"{folder}/{plugin.name}") == target
            assert target in shipped


def test_spec_ships_the_plugin_config_files_the_code_reads_as_noreplace():
    configs = {expand(path) for path in
               re.findall(r"^%config\(noreplace\)\s+(\S+)$", SPEC_TEXT, re.M)}
    assert configs == {config.HUB_PLUGIN_CONF, config.BUILDER_PLUGIN_CONF}
    sources = {dst: src for src, dst in install_sources().items()}
    for path in configs:
        assert (REPO / sources[path]).is_file(), sources[path]


def test_source_tarball_holds_everything_the_spec_uses(tmp_path):
    tarball = write_source_tarball(tmp_path)
    with tarfile.open(tarball) as archive:
        names = set(archive.getnames())
    prefix = f"koji-containerbuild-{VERSION}/"
    used = set(install_sources()) | {"setup.cfg", "pyproject.toml"}
    for line in re.findall(r"^%doc (.+)$", SPEC_TEXT, re.M):
        used |= {word.rstrip("/") for word in line.split()}
    used |= {word for line in re.findall(r"^%pytest (.+)$", SPEC_TEXT, re.M)
             for word in line.split() if word.startswith("tests/")}
    missing = sorted(path for path in used if prefix + path not in names
                     and not any(name.startswith(f"{prefix}{path}/") for name in names))
    assert not missing, f"the spec uses files the tarball lacks: {missing}"


@pytest.mark.skipif(shutil.which("rpmbuild") is None,
                    reason="rpmbuild is not installed (Debian/Ubuntu: apt-get install rpm)")
def test_rpmbuild_makes_a_source_rpm(tmp_path):
    (tmp_path / "SOURCES").mkdir()
    write_source_tarball(tmp_path / "SOURCES")
    built = subprocess.run(
        ["rpmbuild", "-bs", "--define", f"_topdir {tmp_path}", str(SPEC)],
        capture_output=True, text=True, cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    [srpm] = (tmp_path / "SRPMS").glob(f"koji-containerbuild-{VERSION}-1*.src.rpm")
    listing = subprocess.run(["rpm", "-qpl", str(srpm)], capture_output=True, text=True,
                             check=True).stdout.split()
    assert sorted(listing) == [f"koji-containerbuild-{VERSION}.tar.gz",
                               "koji-containerbuild.spec"]
