"""Issue 13 (following side): rotation every 1 MiB and a per-connection cut, through kojid."""

from __future__ import annotations

import pytest

from .conftest import size

pytestmark = pytest.mark.chaos

chaos_rotation = pytest.importorskip("chaos_rotation")


@pytest.mark.parametrize("open_seconds", [0.0, 2.5], ids=["keeping-up", "late-reader"])
def test_a_rotated_and_cut_log_reaches_the_hub_less_only_reported_gaps(site, record,
                                                                      open_seconds):
    figures = record(chaos_rotation.rotation_and_cuts(
        site, int(size("CHAOS_ROTATION_MB", 4) * 1e6), open_seconds=open_seconds))
    assert figures.problems == []
