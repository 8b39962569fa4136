"""Robustness of the builder tasks under faults, restarts and a hub outage (issue 8)."""

from __future__ import annotations

import pytest

from .conftest import size

pytestmark = pytest.mark.chaos

chaos = pytest.importorskip("chaos")


def test_builds_under_api_faults_end_right_with_complete_logs(site, record):
    figures = record(chaos.faulty_builds(site, int(size("CHAOS_BUILDS", 6))))
    assert figures.problems == []


@pytest.mark.parametrize("crash", [False, True], ids=["restart", "crash"])
def test_kojid_restart_reattaches_without_a_second_build(site, record, crash):
    figures = record(chaos.kojid_restart(site, crash=crash))
    assert figures.problems == []


def test_hub_outage_mid_build_loses_nothing(site, record):
    figures = record(chaos.hub_outage(site, size("CHAOS_HUB_OUTAGE", 5)))
    assert figures.problems == []


def test_a_large_log_is_uploaded_whole_before_the_task_closes(site, record):
    """The log is read faster than koji's 64 KiB uploads ship it; the task must not close
    before the backlog is on the hub (the final upload is bounded to 1.5 s)."""
    figures = record(chaos.large_log_complete(site, int(size("CHAOS_LARGE_LOG_MB", 24) * 1e6)))
    assert figures.problems == []
