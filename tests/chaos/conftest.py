"""The chaos suite's build site and its table of figures (printed after the run).

Sizes: ``CHAOS_BUILDS`` (default 6 here, 100 in ``make chaos``) and ``CHAOS_HUB_OUTAGE``
seconds (default 5, 30 in ``make chaos``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

from buildsite import Site  # noqa: E402

COLLECTED: list = []


def size(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    builds = int(size("CHAOS_BUILDS", 6))
    running = Site(tmp_path_factory.mktemp("chaos"), time_scale=1.0 if builds <= 10 else 2.0,
                   maxjobs=20, kill_pause=1.0)
    yield running
    running.close()


@pytest.fixture
def record():
    def add(figures):
        COLLECTED.append(figures)
        return figures
    return add


def pytest_terminal_summary(terminalreporter):
    if COLLECTED:
        from chaos import table
        terminalreporter.write_sep("=", "chaos figures")
        terminalreporter.write_line(table(COLLECTED))
