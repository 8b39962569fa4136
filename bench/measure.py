"""Measuring helpers the benches share: CPU and child processes from /proc, sizes from the
environment, counts and digests of streamed logs.

Standard library only, so the real-harness benches (run on the harness's Python) import it
as well as the loopback ones.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

CLK = os.sysconf("SC_CLK_TCK")


def env(name: str, default: float) -> float:
    """A bench size from the environment (``BENCH_*``), else ``default``."""
    return float(os.environ.get(name, default))


def _stat(pid: int | str) -> list[str]:
    """The fields of /proc/PID/stat after the command name (which may hold spaces)."""
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()


def children_cpu(pid: int) -> float:
    """CPU seconds of the reaped children of ``pid`` (kojid's finished task processes)."""
    fields = _stat(pid)
    return (int(fields[13]) + int(fields[14])) / CLK


def proc_cpu(pid: int) -> float:
    """CPU seconds of ``pid`` itself, in clock ticks."""
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / CLK


def child_pids(parent: int, *, zombies: bool = False) -> list[int]:
    """The direct children of ``parent`` (kojid's task processes); ``zombies``: also those
    that have exited but are not reaped yet (their CPU is not in ``children_cpu`` until then)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = _stat(entry)
            except OSError:
                continue
            if int(stat[1]) == parent and (zombies or stat[0] != "Z"):
                pids.append(int(entry))
    return pids


def count_across(chunks: Iterable[bytes], needle: bytes) -> int:
    """Occurrences of ``needle`` in a chunked stream, also where it spans two chunks."""
    count, tail = 0, b""
    for chunk in chunks:
        data = tail + chunk
        count += data.count(needle)
        tail = data[-(len(needle) - 1):]
        count -= tail.count(needle)  # counted again with the next chunk
    return count + tail.count(needle)


def file_digest(path: Path) -> tuple[int, str]:
    """(size, sha256) of a file, read in 1 MiB blocks."""
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            size += len(block)
            digest.update(block)
    return size, digest.hexdigest()
