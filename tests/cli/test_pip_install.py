"""``pip install`` puts the CLI plugin where the koji CLI of that environment looks for it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from site import getsitepackages

from .conftest import KOJI, REPO


def test_pip_install_makes_koji_list_the_commands_without_plugin_paths(tmp_path):
    """A real (non-editable) install into a fresh venv; no network: the build runs without
    isolation and the venv borrows koji, setuptools and wheel from the test venv."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy(os.path.join(REPO, name), src)
    for name in ("koji_containerbuild", "cli_plugin"):
        shutil.copytree(os.path.join(REPO, name), src / name,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()"
                           "['purelib'])"], check=True, capture_output=True, text=True)
    site_dir = site.stdout.strip()
    # every site directory of the test venv: with --system-site-packages (debian12) koji's
    # requests, six, ... come from the system's dist-packages
    borrowed = [sysconfig.get_paths()["purelib"], *getsitepackages()]
    with open(os.path.join(site_dir, "borrow-test-venv.pth"), "w") as f:
        f.writelines(path + "\n" for path in dict.fromkeys(borrowed) if os.path.isdir(path))
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
         "--no-deps", "--no-build-isolation", "--no-index", str(src)],
        capture_output=True, text=True, cwd=tmp_path)
    assert install.returncode == 0, install.stderr

    plugin_dir = os.path.join(site_dir, "koji_cli_plugins")
    shipped = sorted(n for n in os.listdir(plugin_dir) if n != "__pycache__")
    assert shipped == ["cli_containerbuild.py"]  # and no __init__.py that would shadow koji's
    # every subpackage of the library made it into the wheel
    for root, _dirs, files in os.walk(os.path.join(REPO, "koji_containerbuild")):
        if "__init__.py" in files:
            rel = os.path.relpath(root, REPO)
            assert os.path.isfile(os.path.join(site_dir, rel, "__init__.py")), rel

    conf = tmp_path / "koji.conf"
    conf.write_text("[plain]\nserver = http://127.0.0.1:9/kojihub\n")  # no plugin_paths
    home = tmp_path / "home"
    home.mkdir()
    env = dict(os.environ, HOME=str(home))
    listing = subprocess.run([str(python), KOJI, "-p", "plain", "-c", str(conf), "help", "build"],
                             capture_output=True, text=True, env=env, cwd=home)
    assert listing.returncode == 0, listing.stderr
    commands = [line.split()[0] for line in listing.stdout.splitlines()
                if line.startswith("        ")]
    for command in ("container-build", "flatpak-build", "source-container-build"):
        assert command in commands
    usage = subprocess.run([str(python), KOJI, "-p", "plain", "-c", str(conf),
                            "source-container-build", "--help"],
                           capture_output=True, text=True, env=env, cwd=home)
    assert usage.returncode == 0, usage.stderr
    assert usage.stdout.startswith("Usage: koji source-container-build [options] TARGET\n")
