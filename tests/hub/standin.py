"""A stand-in for the parts of ``kojihub`` and the request session that the hub plugin uses.

It follows the real semantics that matter to the plugin (reference/koji-plugin-api.md §1.3-1.4):
``assertPerm`` lets admins through but ``hasPerm`` is exact; ``make_task`` refuses unknown
channels and ownerless tasks; ``get_build_target(strict=True)`` raises GenericError.
"""

from __future__ import annotations

import types
from dataclasses import dataclass, field
from typing import Any, Optional

import koji


@dataclass
class HubSession:
    user_id: Optional[int] = 1
    perms: set = field(default_factory=set)

    @property
    def logged_in(self) -> bool:
        return self.user_id is not None

    def assertLogin(self) -> None:  # noqa: N802 - koji's name
        if not self.logged_in:
            raise koji.ActionNotAllowed("you must be logged in for this operation")

    def hasPerm(self, name: str) -> bool:  # noqa: N802
        return self.logged_in and name in self.perms

    def assertPerm(self, name: str) -> None:  # noqa: N802
        if not (self.hasPerm(name) or self.hasPerm("admin")):
            raise koji.ActionNotAllowed(f"{name} permission required (logged in as user)")


class KojiHub(types.ModuleType):
    """Module-shaped stand-in so ``import kojihub`` inside the plugin file finds it."""

    def __init__(self, session: HubSession):
        super().__init__("kojihub")
        self.session = session
        self.targets = {
            "f39-container-candidate": {"id": 1, "name": "f39-container-candidate",
                                        "dest_tag": 10, "dest_tag_name": "f39-container"},
        }
        self.channels = {"default", "container", "container-binary", "container-source"}
        self.tasks: list[dict[str, Any]] = []

    def get_build_target(self, info: Any, event: Any = None, strict: bool = False) -> Any:
        target = self.targets.get(info) if isinstance(info, str) else None
        if target is None and strict:
            raise koji.GenericError(f"No such build target: {info}")
        return target

    def make_task(self, method: str, arglist: list, **opts: Any) -> int:
        if not self.session.logged_in and "owner" not in opts:
            raise koji.GenericError("task must have an owner")
        channel = opts.get("channel")
        if channel is not None and channel not in self.channels:
            raise koji.GenericError(f"No such channel: {channel}")
        # Koji encodes the params with xmlrpc at this point; anything unmarshallable fails here.
        koji.xmlrpcplus.dumps(tuple(arglist), methodname=method)
        self.tasks.append({"method": method, "arglist": arglist, "opts": opts})
        return 1000 + len(self.tasks)
