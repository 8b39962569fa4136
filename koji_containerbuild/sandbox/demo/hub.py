"""The sandbox hub as the demo and the end-to-end tests run it, as a process of its own.

On top of ``python -m koji_containerbuild.sandbox.koji.hub --seed-demo``: the build tag lists only
this machine's arch (the sandbox has one build host, and the real-image engine builds only for
it), and the hub answers ``CGImport``, the call atomic-reactor's ``koji_import`` makes, so a
real image build becomes a Koji build whose id lands in the ``koji-build-id`` label and in the
task result, as on a real hub, tagged into the target's destination tag (``koji_tag_build``).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any, Optional

import koji
from koji.context import context

from koji_containerbuild.sandbox.koji.hub import DEMO, SandboxHub, seed_demo, serve
from koji_containerbuild.sandbox.koji.hub_api import RootExports
from koji_containerbuild.sandbox.koji.hub_queries import tag_build
from koji_containerbuild.sandbox.openshift.buildah_run import HOST_ARCH


class ContentGeneratorExports:
    """kojihub's ``CGImport`` in small: the build record, no files (the registry has them)."""

    def __init__(self, hub: SandboxHub):
        self._hub = hub

    def CGImport(self, metadata: Any, directory: str, token: Optional[str] = None) -> dict:  # noqa: N802
        session = context.session
        if not session.logged_in:
            raise koji.AuthError("Not logged-in")
        if not session.hasPerm("admin"):  # kojihub: the user must have access to the CG
            raise koji.ActionNotAllowed(f"{session.user_data['name']} may not import "
                                        "content generator builds")
        if isinstance(metadata, str):
            metadata = json.loads(metadata)
        build = (metadata or {}).get("build") or {}
        missing = [key for key in ("name", "version", "release") if not build.get(key)]
        if missing:
            raise koji.GenericError(f"CG metadata: build lacks {', '.join(missing)}")
        build_id = self._hub.add_build(
            {key: build[key] for key in ("name", "version", "release")} |
            {"source": build.get("source")}, state="COMPLETE", extra=build.get("extra") or {},
            btype="image", owner=build.get("owner"))
        self._tag_into_destination(build_id, (build.get("extra") or {}).get(
            "container_koji_task_id"))
        return RootExports(self._hub).getBuild(build_id)

    def _tag_into_destination(self, build_id: int, task_id: Any) -> None:
        """atomic-reactor's koji_tag_build, folded in: tag the build into the destination tag
        of its task's target (no tagBuild task: the sandbox has no tag policy to wait for)."""
        try:
            task_id = int(task_id)
        except (TypeError, ValueError):
            return
        store = self._hub.store
        with store.read():
            task = store.task(task_id, strict=False)
            request = store.task_request(task) if task else []
            target_name = next((a for a in request if isinstance(a, str) and "://" not in a),
                               None)
            target = store.find("target", target_name) if target_name else None
        if target is not None:
            tag_build(store, target["dest_tag"], build_id)


def demo_hub(state_dir: str, listen: tuple[str, int] = ("127.0.0.1", 0),
             arches: str = HOST_ARCH) -> SandboxHub:
    """A seeded hub with the demo's world, not yet started."""
    hub = SandboxHub(state_dir, listen=listen)
    seed_demo(hub)
    hub.add_tag(DEMO["build_tag"], arches=arches)
    hub.dispatcher.register(ContentGeneratorExports(hub), names=("CGImport",))
    return hub


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m koji_containerbuild.sandbox.demo.hub",
                                     description="The demo's sandbox Koji hub (loopback).")
    parser.add_argument("--state-dir", required=True, help="folder holding the hub's state")
    parser.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT (default: any port)")
    parser.add_argument("--arches", default=HOST_ARCH,
                        help=f"arches of the build tag (default: this machine's, {HOST_ARCH})")
    opts = parser.parse_args(argv)
    host, _, port = opts.listen.rpartition(":")
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    hub = demo_hub(opts.state_dir, (host or "127.0.0.1", int(port)), opts.arches)
    # the url file is how a parent that asked for port 0 learns it
    return serve(hub, url_file=Path(hub.state_dir) / "url")


if __name__ == "__main__":
    sys.exit(main())
