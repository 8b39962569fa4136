"""No hostile line changes a build's outcome or its log (issue 13): the hostile-log scenario
ends CLOSED with its logs on the hub byte-identical to the demux of what it emitted."""

from __future__ import annotations

import pytest

from .conftest import size

pytestmark = pytest.mark.chaos

chaos_log = pytest.importorskip("chaos_log")


def test_hostile_lines_change_neither_outcome_nor_log(site, record):
    figures = record(chaos_log.hostile_log(
        site, line_bytes=int(size("CHAOS_HOSTILE_LINE_MB", 1.6) * 1e6)))
    assert figures.problems == []
