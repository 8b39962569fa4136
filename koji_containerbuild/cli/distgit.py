"""What a DistGit checkout tells a container build: source URL, git branch and build target.

``koji container-build`` run inside a checkout of ``<distgit>/container/<name>.git`` may omit
what the checkout knows. It accepts the checkout only in the state fedpkg accepts it
(reference/rpkg-contract.md §3 ``check_repo``): clean, on a branch that tracks a remote branch,
with HEAD pushed, because the builder fetches the commit from DistGit, not from this disk.
Koji-free; git is run as a subprocess.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from typing import Callable, Optional
from urllib.parse import urlsplit

# fedpkg builds from the branch Fedora calls rawhide (reference/rpkg-contract.md §2).
RAWHIDE_BRANCHES = ("master", "main")
_SCP_LIKE = re.compile(r"^(?:(?P<user>[^@/\s]+)@)?(?P<host>[^:/\s]+):(?P<path>[^/\s].*|/.*)$")


class DistGitError(Exception):
    """The checkout cannot be built from as it is; the message says what to change."""


@dataclass(frozen=True)
class Checkout:
    """A clean, pushed DistGit checkout and what it implies for a build."""

    path: str
    branch: str
    remote: str
    remote_url: str
    upstream_branch: str
    namespace: str
    name: str
    commit: str

    @property
    def repo(self) -> str:
        return f"{self.namespace}/{self.name}"


GitRunner = Callable[..., subprocess.CompletedProcess]


def _git(path: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["git", "-C", path, *args], capture_output=True, text=True, check=False,
        env={**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"},
    )


def _out(run: GitRunner, path: str, *args: str) -> Optional[str]:
    proc = run(path, *args)
    return proc.stdout.strip() if proc.returncode == 0 else None


def inspect_checkout(path: str = ".", run: GitRunner = _git) -> Checkout:
    """Read the checkout at ``path`` and refuse it unless fedpkg would build from it."""
    top = _out(run, path, "rev-parse", "--show-toplevel")
    if top is None:
        raise DistGitError(
            f"{os.path.abspath(path)} is not a git checkout; run this in a DistGit checkout "
            "or give TARGET and SCM_URL"
        )
    dirty = _out(run, top, "status", "--porcelain", "--untracked-files=no")
    if dirty is None or dirty:
        # rpkg's wording; untracked files are not in the build and do not count (as in rpkg).
        raise DistGitError(f"{top} has uncommitted changes.  Use git status to see details")
    branch = _out(run, top, "symbolic-ref", "--quiet", "--short", "HEAD")
    if not branch:
        raise DistGitError(
            "HEAD is detached; check out the branch to build (one that tracks a DistGit "
            "branch) or give TARGET and SCM_URL"
        )
    remote = _out(run, top, "config", "--get", f"branch.{branch}.remote")
    merge = _out(run, top, "config", "--get", f"branch.{branch}.merge")
    if not remote or not merge or remote == ".":
        raise DistGitError(
            f"Branch {branch} does not track remote branch.\n"
            "Use the following command to fix that:\n"
            "    git branch -u origin/REMOTE_BRANCH_NAME"
        )
    upstream_branch = merge[len("refs/heads/"):] if merge.startswith("refs/heads/") else merge
    upstream_sha = _out(run, top, "rev-parse", "--verify", "--quiet", f"{branch}@{{upstream}}")
    if not upstream_sha:
        raise DistGitError(
            f"Branch {branch} tracks {remote}/{upstream_branch}, which is not fetched; "
            f"run git fetch {remote}"
        )
    unpushed = _out(run, top, "rev-list", f"{upstream_sha}..HEAD")
    if unpushed is None or unpushed:
        raise DistGitError(
            "There are unpushed changes in your repo; push them "
            f"(git push {remote} {branch}:{upstream_branch}) so the builder can fetch the commit"
        )
    commit = _out(run, top, "rev-parse", "--verify", "HEAD")
    # rpkg reads the namespace/name from the push URL (reference/rpkg-contract.md §2).
    remote_url = (_out(run, top, "config", "--get", f"remote.{remote}.pushurl")
                  or _out(run, top, "config", "--get", f"remote.{remote}.url"))
    if not remote_url:
        raise DistGitError(f"Remote {remote} of branch {branch} has no URL")
    namespace, name = repo_path(remote_url)
    return Checkout(
        path=top, branch=branch, remote=remote, remote_url=remote_url,
        upstream_branch=upstream_branch, namespace=namespace, name=name, commit=str(commit),
    )


def _split_remote(url: str) -> tuple[str, str, str, str]:
    """(scheme, user, host[:port], path) of a git remote URL, scp-like form included."""
    if "://" in url:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
        return parts.scheme.lower(), parts.username or "", host, parts.path
    match = _SCP_LIKE.match(url)
    if match and not url.startswith(("/", ".")):
        path = match.group("path")
        return "ssh", match.group("user") or "", match.group("host"), "/" + path.lstrip("/")
    return "file", "", "", url


def repo_path(remote_url: str) -> tuple[str, str]:
    """``(namespace, name)`` from the last two path components of a DistGit remote URL."""
    parts = [p for p in _split_remote(remote_url)[3].split("/") if p]
    if len(parts) < 2:
        raise DistGitError(
            f"Remote URL {remote_url} has no namespace; a DistGit container repository is "
            "<distgit>/container/<name>.git (fix it with git remote set-url)"
        )
    name = parts[-1][:-4] if parts[-1].endswith(".git") else parts[-1]
    return parts[-2], name


def anon_clone_url(remote_url: str, repo: str, template: Optional[str] = None) -> str:
    """The URL the builder clones from, in Koji's SCM form (``git+https://...``).

    With a template it is filled in: ``{repo}`` (``<namespace>/<name>``), ``{namespace}``,
    ``{name}``, or rpkg's ``anongiturl`` form ``%(repo)s``. Without one it is derived from the
    remote: ssh remotes are served anonymously over https by the same host (as
    src.fedoraproject.org serves pkgs.fedoraproject.org repositories), http(s) remotes lose
    their credentials, git:// stays as it is.
    """
    if template:
        url = fill_template(template, repo)
    else:
        scheme, _user, host, path = _split_remote(remote_url)
        if scheme in ("ssh", "git+ssh") and host:
            host = host.split(":")[0]
            path = path if path.endswith(".git") else path + ".git"
            url = f"https://{host}{path}"
        elif scheme in ("http", "https", "git", "git+http", "git+https") and host:
            url = f"{scheme}://{host}{path}"
        else:
            raise DistGitError(
                f"Cannot derive an anonymous clone URL from remote URL {remote_url}; give "
                "--anon-git-url-template (e.g. https://src.example.org/{repo}.git) or set "
                "containerbuild_anon_git_url_template in the koji profile"
            )
    # fedpkg's rule: Koji's SCM wants git+http(s):// for git over http (rpkg-contract.md §2).
    if url.startswith(("https://", "http://")):
        url = "git+" + url
    return url


def fill_template(template: str, repo: str) -> str:
    """Fill an anonymous clone URL template for ``repo`` (``<namespace>/<name>``).

    ``{repo}`` is the form for koji.conf, whose parser would choke on a bare ``%(repo)s``;
    rpkg's ``%(repo)s``/``%(module)s`` is accepted too, so fedpkg's ``anongiturl`` can be
    copied onto the command line.
    """
    namespace, _, name = repo.partition("/")
    if "%(" in template:
        try:
            return template % {"repo": repo, "module": repo}
        except (KeyError, ValueError, TypeError) as exc:
            raise DistGitError(
                f"Invalid anonymous git URL template {template!r}: {exc!r}; use {{repo}} for "
                "<namespace>/<name>, e.g. https://src.example.org/{repo}.git"
            ) from None
    if not any(key in template for key in ("{repo}", "{name}")):
        raise DistGitError(
            f"Invalid anonymous git URL template {template!r}: it names no repository; use "
            "{repo} for <namespace>/<name>, e.g. https://src.example.org/{repo}.git"
        )
    return (template.replace("{repo}", repo).replace("{namespace}", namespace)
            .replace("{name}", name))


def default_target(upstream_branch: str, namespace: str) -> str:
    """fedpkg's default build target: ``<branch>-<namespace>-candidate``, rawhide for master."""
    branch = "rawhide" if upstream_branch in RAWHIDE_BRANCHES else upstream_branch
    return f"{branch}-{namespace}-candidate"
