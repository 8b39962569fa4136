"""Small readers shared by the builder tests."""

from __future__ import annotations

import json

import koji
import pytest

from koji_containerbuild.sandbox.distgit import create_container_repo

STATES = koji.TASK_STATES


def user_params(build: dict) -> dict:
    """The USER_PARAMS the builder sent with an OpenShift build."""
    env = build["spec"]["strategy"]["customStrategy"]["env"]
    return json.loads(next(e["value"] for e in env if e["name"] == "USER_PARAMS"))


def fault_of(world, task_id: int) -> str:
    """The fault a failed task left, as the client sees it."""
    with pytest.raises(koji.GenericError) as info:
        world.result(task_id)
    return str(info.value)


def scenario_task(world, scenario: str, opts: dict = None) -> int:
    """A scratch task whose simulated build plays ``scenario`` (chosen by the repo name)."""
    repo = f"scenario-{scenario}"
    sha = create_container_repo(world.git.base, repo)
    return world.submit({"scratch": True, **(opts or {})}, src=world.src(sha, repo))
