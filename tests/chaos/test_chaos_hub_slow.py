"""The task ends only when its log is on the hub (issue 13): a slow hub that is also down
during the final upload still gets the whole log, byte-identical, before the task closes."""

from __future__ import annotations

import pytest

from .conftest import size

pytestmark = pytest.mark.chaos

chaos_log = pytest.importorskip("chaos_log")


def test_slow_hub_down_during_the_final_upload_gets_the_whole_log(site, record):
    figures = record(chaos_log.slow_hub_final_outage(
        site, delay=size("CHAOS_HUB_DELAY", 0.3), rate=size("CHAOS_HUB_RATE", 1e6),
        log_bytes=int(size("CHAOS_SLOW_HUB_LOG_MB", 4) * 1e6),
        outage=size("CHAOS_HUB_OUTAGE", 5)))
    assert figures.problems == []
