"""Checks the builder makes against the hub before anything reaches OpenShift.

Each failure is a ``koji.BuildError`` whose one line says what to change; the texts users grep
for are upstream's (reference/upstream-features.md §1.5). Lookups that fail are errors, never
"not found" (upstream once treated any exception as "no such build", §2.1 #6).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable, Sequence
from typing import Any, Optional

import koji

REUSABLE_BUILD_STATES = (koji.BUILD_STATES["FAILED"], koji.BUILD_STATES["CANCELED"])


def get_target(session: Any, target: str, event_id: Optional[int]) -> dict:
    """The target at the task's event; an unknown target is a clear error (§2.1 #17)."""
    info = session.getBuildTarget(target, event=event_id)
    if not info:
        raise koji.BuildError(f"Target `{target}` not found")
    return info


def get_arches(
    session: Any,
    build_tag: Any,
    event_id: Optional[int],
    *,
    arch_override: Optional[str] = None,
    scratch: bool = False,
    isolated: bool = False,
) -> list[str]:
    """Arches to build: the build tag's, or the override (scratch/isolated only) within them.

    An override naming an arch the tag lacks is refused, listing the tag's arches: building
    the others silently would not be what was asked for.
    """
    config = session.getBuildConfig(build_tag, event=event_id)
    tag_arches = (config or {}).get("arches") or ""
    name = (config or {}).get("name", build_tag)
    if not tag_arches.split():
        raise koji.BuildError(f"No arches for tag {name} [{(config or {}).get('id', '?')}]")
    if arch_override and not (scratch or isolated):
        raise koji.BuildError("arch-override is only allowed for isolated or scratch builds")
    candidates = arch_override.split() if arch_override else tag_arches.split()
    missing = [arch for arch in candidates if not arch_in(arch, tag_arches)]
    if missing:
        prefix = "No matching arches were found: " if len(missing) == len(candidates) else ""
        raise koji.BuildError(
            f"{prefix}arch_override {' '.join(missing)} not in the arches of build tag {name} "
            f"({' '.join(tag_arches.split())}); override with those only"
        )
    return list(dict.fromkeys(candidates))


def arch_in(arch: str, tag_arches: str) -> bool:
    """Koji's matching: same canonical arch as one of the tag's (i586 builds on i686), or noarch."""
    return arch == "noarch" or koji.canonArch(arch) in {koji.canonArch(a)
                                                        for a in tag_arches.split()}


def check_whitelist(session: Any, package: str, dest_tag_name: str) -> None:
    """The package must be listed, and not blocked, in the destination tag."""
    config = session.getPackageConfig(dest_tag_name, package)
    if config is None:
        raise koji.BuildError(f"package (container) {package} not in list for tag {dest_tag_name}")
    if config.get("blocked"):
        raise koji.BuildError(f"package (container) {package} is blocked for tag {dest_tag_name}")


def check_nvr_unused(session: Any, nvr: str) -> None:
    """Refuse an NVR that exists, unless its build FAILED or was CANCELED (§1.7)."""
    build = session.getBuild(nvr)
    if build and build.get("state") not in REUSABLE_BUILD_STATES:
        raise koji.BuildError(f"Build for {nvr} already exists, id {build['id']}")


def _host(url: str) -> str:
    return (urllib.parse.urlsplit(url).hostname or "").lower()


def _allowed(host: str, allowed: Sequence[str]) -> bool:
    """Exact host names, or '.example.org' for that domain and its subdomains."""
    host = host.lower()
    for entry in (a.lower() for a in allowed):
        if host == entry or (entry.startswith(".") and (host.endswith(entry)
                                                         or host == entry[1:])):
            return True
    return False


def check_repo_hosts(urls: Iterable[str], allowed: Sequence[str]) -> None:
    """Every yum repo file must come from an allowed host; no allow-list means any host."""
    if not allowed:
        return
    for url in urls:
        if not _allowed(_host(url), allowed):
            raise koji.BuildError(
                f"yum_repourls: {url} is not on an allowed host ({', '.join(allowed)})"
            )


def image_registry(pullspec: str) -> Optional[str]:
    """The registry part of an image pull spec, or None for a Docker Hub style short name."""
    first, sep, _ = pullspec.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first.lower()
    return None


def check_parent_registry(pullspec: str, allowed: Sequence[str], what: str) -> None:
    """A parent image must come from an allowed registry; no allow-list means any registry."""
    if not allowed or pullspec == "scratch":
        return
    registry = image_registry(pullspec)
    if registry is None:
        return  # resolved against the reactor's source_registry by OSBS, which is the site's own
    if not (_allowed(registry, allowed) or _allowed(registry.split(":")[0], allowed)):
        raise koji.BuildError(
            f"{what}: {pullspec} is not from an allowed registry ({', '.join(allowed)})"
        )


def get_source_build_info(
    session: Any, build_id: Optional[int], build_nvr: Optional[str]
) -> dict:
    """The image build a source container is made from, checked as upstream does (§1.16)."""
    build = session.getBuild(build_nvr if build_nvr else build_id)
    if not build:
        raise koji.BuildError(
            f"specified source build '{build_nvr if build_nvr else build_id}' doesn't exist"
        )
    if build_id and build_nvr and build["id"] != build_id:
        raise koji.BuildError(
            f"koji_build_id {build_id} does not match koji_build_nvr {build_nvr} with id "
            f"{build['id']}. When specifying both an id and an nvr, they should point to the "
            "same image build"
        )
    extra = build.get("extra") or {}
    image = extra.get("image") if isinstance(extra, dict) else None
    if not isinstance(image, dict):
        raise koji.BuildError(
            f"koji build {build['nvr']} is not image build which source container requires"
        )
    if "sources_for_nvr" in image:
        raise koji.BuildError(
            f"koji build {build['nvr']} is source container build, source container can not "
            "use source container build image"
        )
    return build
