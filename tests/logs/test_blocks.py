"""The demuxer's block plans (``blocks.py``) give each file exactly what the per-line rule
gives it, and hand a block back (None) whenever the per-line rule has more to do."""

from __future__ import annotations

import random

from koji_containerbuild.logs.blocks import MAX_BLOCK_PLATFORMS, relayed_writes, routed_writes
from koji_containerbuild.logs.lines import parse_log_line, split_relayed
from koji_containerbuild.logs.platform_files import METADATA_TAG

MAIN = "orchestrator.log"


def file_for(raw: bytes) -> str:
    """Every platform has its own file, except ``refused`` (no usable name)."""
    if raw == METADATA_TAG.encode():
        return METADATA_TAG
    return "" if raw == b"refused" else raw.decode() + ".log"


def per_line(lines: list[bytes]) -> dict[str, bytes]:
    """The files the per-line rule writes for ``lines`` (the oracle)."""
    out: dict[str, bytes] = {}
    for line in lines:
        platform, text = parse_log_line(line)
        name = file_for(platform.encode()) if platform else ""
        target, data = (name, text) if name else (MAIN, line)
        out[target] = out.get(target, b"") + data + b"\n"
    return out


def relayed(platform: str, n: int) -> bytes:
    return (f"2024-01-02 03:04:05,678 platform:{platform} - atomic_reactor.x - INFO - "
            f"2024-01-02 03:04:05,600 platform:- - atomic_reactor.y - INFO - line {n}").encode()


def orchestrator(n: int) -> bytes:
    return f"2024-01-02 03:04:05,678 platform:- - atomic_reactor.z - INFO - own {n}".encode()


def test_a_mixed_block_is_planned_as_the_per_line_rule_writes_it():
    rng = random.Random(13)
    makers = [lambda n: relayed("x86_64", n), lambda n: relayed("aarch64", n), orchestrator]
    lines = [rng.choice(makers)(n) for n in range(500)]
    block = b"\n".join(lines) + b"\n"
    for plan in (relayed_writes(split_relayed(block), file_for, MAIN),
                 routed_writes(block, file_for, MAIN)):
        assert plan is not None
        assert plan.files == per_line(lines)
        assert plan.lines == 500


def test_the_whole_block_regex_keeps_lines_of_unusable_platforms_whole_in_the_main_log():
    lines = [relayed("x86_64", 1), relayed("refused", 2), b"no prefix at all", orchestrator(3)]
    plan = routed_writes(b"\n".join(lines) + b"\n", file_for, MAIN)
    assert plan.files == per_line(lines)
    assert plan.files[MAIN].count(b"\n") == 3


def test_blocks_the_per_line_rule_must_see_are_handed_back():
    metadata = relayed(METADATA_TAG, 1)
    assert routed_writes(metadata + b"\n", file_for, MAIN) is None
    assert relayed_writes(split_relayed(metadata + b"\n"), file_for, MAIN) is None
    refused = relayed("refused", 1) + b"\n"
    assert relayed_writes(split_relayed(refused), file_for, MAIN) is None
    many = b"".join(relayed(f"p{n}", n) + b"\n" for n in range(MAX_BLOCK_PLATFORMS + 1))
    assert routed_writes(many, file_for, MAIN) is None
    assert relayed_writes(split_relayed(many), file_for, MAIN) is None
    fewer = b"".join(relayed(f"p{n}", n) + b"\n" for n in range(MAX_BLOCK_PLATFORMS - 1))
    assert routed_writes(fewer, file_for, MAIN) is not None
