"""Micro-benchmark of ``LogDemux.feed`` on large-log style input (issue 8).

Feeds ~50 MB of relayed worker lines (the shape ``scenarios.py`` ``large-log`` emits, with a
timestamp that changes per line as in a real build) in 16 KiB chunks (best of 3 runs), through the
per-line implementation this module keeps as a baseline and once through the current one,
checks that both wrote identical files, and prints MB/s and µs/line for each.

    .venv/bin/python bench/demux_speed.py [MB] [platforms]
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from koji_containerbuild.logs_demux import (  # noqa: E402
    _MAYBE_WORKER,
    _USER_WARNING_MARK,
    METADATA_TAG,
    LogDemux,
)
from koji_containerbuild.sandbox.sim_reactor import reactor_line, relayed_line  # noqa: E402

CHUNK = 16 << 10
ROUNDS = 3

# The rule's regex as it was (`{5}` and `(...)?` not spelled out).
_OLD_WRAPPED = re.compile(rb"\s*\S+\s+\S+\s+platform:(\S*)(?:\s+\S+){5}(?:\s|\Z)"
                          rb"(?:(\S+)\s+(\S+)\s+platform:-(?:\s|\Z))?")


def _old_unwrap(match: re.Match[bytes], line: bytes) -> bytes:
    text = line[match.end():]
    if match[2] is not None:
        text = match[2] + b" " + match[3] + b" " + text
    return text


class BaselineDemux(LogDemux):
    """The per-line demuxer as it was before the block fast path (same rule, same output)."""

    def _write_block(self, block: bytes) -> None:
        if (not (self._collect_user_warnings and _USER_WARNING_MARK in block)
                and not (self._demux and _MAYBE_WORKER.search(block))):
            self.lines += block.count(b"\n")
            self._append(self._main_log, block)
            if self._on_data is not None:
                self._on_data()
            return
        lines = block.split(b"\n")
        lines.pop()
        self._old_write_lines(lines)

    def _old_write_lines(self, lines: list[bytes]) -> None:
        main: list[bytes] = []
        batches: dict[str, list[bytes]] = {self._main_log: main}
        match = _OLD_WRAPPED.match if self._demux else None
        warnings = self._collect_user_warnings
        for line in lines:
            wrapped = match(line) if match is not None else None
            if wrapped is None or wrapped[1] == b"-":
                if not (warnings and _USER_WARNING_MARK in line
                        and self._take_user_warning(line)):
                    main.append(line)
                continue
            text = _old_unwrap(wrapped, line)
            name = self._platform_files.get(wrapped[1])
            if name is None:
                name = self._platform_file(wrapped[1])
            if name == METADATA_TAG:
                self._copy_metadata(text)
            elif warnings and _USER_WARNING_MARK in text and self._take_user_warning(text):
                pass
            elif not name:
                main.append(line)
            else:
                batch = batches.get(name)
                if batch is None:
                    batches[name] = [text]
                else:
                    batch.append(text)
        self.lines += len(lines)
        for name, batch in batches.items():
            if batch:
                batch.append(b"")
                self._append(name, b"\n".join(batch))
        if self._on_data is not None:
            self._on_data()


def large_log(total_bytes: int, platforms: list[str]) -> bytes:
    """Relayed worker lines like the simulator's large-log build, plus one orchestrator line
    every 1,000 lines; the timestamp moves on every line."""
    lines, size, index, ts = [], 0, 0, 1_623_232_800.0
    while size < total_bytes:
        if index % 1000 == 999:
            text = reactor_line(ts, "-", "atomic_reactor.plugins.orchestrate_build", "INFO",
                                f"still waiting for workers ({index})")
        else:
            text = relayed_line(ts, platforms[index % len(platforms)],
                                "atomic_reactor.plugins.imagebuilder", "INFO",
                                f"large-log line {index:012d} ")
            text = text.ljust(200, ".")
        raw = text.encode() + b"\n"
        lines.append(raw)
        size += len(raw)
        index += 1
        ts += 0.0007
    return b"".join(lines)


def run(cls: type[LogDemux], data: bytes, outdir: str) -> tuple[float, int]:
    demux = cls(outdir)
    started = time.perf_counter()
    for pos in range(0, len(data), CHUNK):
        demux.feed(data[pos:pos + CHUNK])
    demux.close()
    return time.perf_counter() - started, demux.lines


def read_dir(path: str) -> dict[str, bytes]:
    return {name: Path(path, name).read_bytes() for name in sorted(os.listdir(path))}


def main() -> int:
    mb = float(sys.argv[1]) if len(sys.argv) > 1 else 50
    platforms = sys.argv[2].split(",") if len(sys.argv) > 2 else ["x86_64"]
    data = large_log(int(mb * 1e6), platforms)
    base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    count = data.count(b"\n")
    print(f"{len(data) / 1e6:.1f} MB, {count} lines, platforms {platforms}, "
          f"{CHUNK // 1024} KiB chunks")
    outputs = {}
    for label, cls in (("baseline (per line)", BaselineDemux), ("current", LogDemux)):
        elapsed = float("inf")
        for _ in range(ROUNDS):     # best of: the machine is shared
            with tempfile.TemporaryDirectory(dir=base) as out:
                took, lines = run(cls, data, out)
                elapsed = min(elapsed, took)
                outputs[label] = read_dir(out)
        print(f"  {label:20s} {len(data) / elapsed / 1e6:7.1f} MB/s "
              f"{elapsed / lines * 1e6:6.3f} µs/line  ({elapsed:.2f} s)")
    same = len(set(map(repr, outputs.values()))) == 1
    print("  outputs identical" if same else "  !! OUTPUTS DIFFER")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
