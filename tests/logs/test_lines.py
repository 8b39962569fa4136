"""The §5.3 line rule: one line (``parse_log_line``) and a whole block (``BLOCK_LINE``) agree
with osbs-client's rule and with each other, byte for byte."""

from __future__ import annotations

import random

from koji_containerbuild.logs.lines import (
    BLOCK_LINE,
    MAYBE_WORKER,
    ROW_PLATFORM,
    ROW_WHOLE,
    WRAPPED,
    parse_log_line,
    relayed_lines,
    split_relayed,
    stripped_lines,
    unwrap,
)
from koji_containerbuild.openshift.logresume import PREFIX
from tests.fixtures import OPENSHIFT_FIXTURES

FIXTURE = OPENSHIFT_FIXTURES / "build_test-orchestrator-build-123_logs.txt"


def reference_rule(entry: str):
    """The parse rule of osbs1-contract.md §5.3, transcribed literally (str, single spaces)."""
    items = entry.split()
    if len(items) < 4 or not items[2].startswith("platform:"):
        return None, entry
    platform = items[2].split(":", 1)[1]
    if platform == "-":
        return None, entry
    line = entry[sum(len(items[i]) + 1 for i in range(8)):]
    items = line.split()
    if len(items) > 2 and items[2] == "platform:-":
        line = f"{items[0]} {items[1]} {line[sum(len(items[i]) + 1 for i in range(3)):]}"
    return platform, line


def test_parse_agrees_with_the_reference_rule_on_generated_lines():
    rng = random.Random(7)
    words = ["x", "ab", "platform:-", "platform:x86_64", "-", "INFO", "{json}", "a:b", "ü",
             "platform:", "2021-06-09", "10:00:00,1"]
    lines = [FIXTURE.read_text().splitlines()[i] for i in range(4)]
    for _ in range(3000):
        fields = [rng.choice(words) for _ in range(rng.randint(0, 14))]
        if rng.random() < 0.7 and len(fields) > 2:
            fields[2] = rng.choice(["platform:-", "platform:ppc64le", "platform:_metadata_"])
        if rng.random() < 0.5 and len(fields) > 10:
            fields[10] = "platform:-"
        # The worker's message may carry runs of whitespace (kept as they are). The rule
        # measures fields assuming single spaces, so it is only defined for those where it
        # cuts: the 8 wrapper fields and, when it is stripped, the inner `platform:-` prefix.
        head = 11 if len(fields) > 10 and fields[10] == "platform:-" else 8
        tail = " ".join(rng.choice(["", " ", "\t"]) + f for f in fields[head:])
        lines.append(" ".join(fields[:head] + ([tail] if tail else [])))
    compared = 0
    for line in lines:
        expected = reference_rule(line) if _reference_defined(line) else None
        if expected is None:
            continue
        platform, text = parse_log_line(line.encode())
        assert (platform, text.decode()) == expected, line
        compared += 1
    assert compared > 2000


def _reference_defined(line: str) -> bool:
    """osbs-client raised IndexError on worker lines with fewer than 8 fields."""
    items = line.split()
    return not (len(items) >= 4 and items[2].startswith("platform:")
                and items[2] != "platform:-" and len(items) < 8)


def random_lines(rng: random.Random, count: int) -> list[bytes]:
    """Lines of the wrapper's shape and near misses, with odd blanks and bytes (no newline)."""
    blanks = [b" "] * 12 + [b"\t", b"\r", b"\x0b", b"\x0c", b"  "]
    words = [b"x", b"-", b"INFO", b"platform:-", b"platform:", b"platform:-x", b"\xff\xfe",
             b"a:b", b"{json}"]
    lines = []
    for _ in range(count):
        fields = [rng.choice(words) for _ in range(rng.randint(0, 14))]
        if rng.random() < 0.8 and len(fields) > 2:
            fields[2] = b"platform:" + rng.choice([b"arch1", b"arch2", b"-", b"", b"a/b"])
        if rng.random() < 0.6 and len(fields) > 10:
            fields[10] = b"platform:-"
        lines.append(rng.choice([b"", b" "]) + b"".join(
            field + rng.choice(blanks) for field in fields) + rng.choice([b"", b"\r", b" "]))
    return lines


def test_block_rows_agree_with_the_per_line_rule():
    lines = random_lines(random.Random(3), 3000)
    rows = BLOCK_LINE.findall(b"".join(line + b"\n" for line in lines))
    assert len(rows) == len(lines)
    for line, row in zip(lines, rows):
        assert b"".join(ROW_WHOLE(row)) == line
        match = WRAPPED.match(line)
        if match is None:
            assert ROW_PLATFORM(row) == b"" and row[0] == b"", line
            continue
        assert ROW_PLATFORM(row) == match[1], line
        assert stripped_lines([row]) == unwrap(match, line) + b"\n", line
    # a block of rows strips like its lines one by one, whichever mix of inner prefixes
    wrapped = [row for row in rows if row[0]]
    assert stripped_lines(wrapped) == b"".join(stripped_lines([row]) for row in wrapped)


def test_the_block_pre_check_never_misses_a_worker_line():
    for line in random_lines(random.Random(5), 3000):
        platform, _text = parse_log_line(line)
        if platform is not None:
            assert MAYBE_WORKER.search(line + b"\n"), line


def relayed_shaped_lines(rng: random.Random, count: int) -> list[bytes]:
    """Mostly the two shapes a real log has (relayed worker lines, orchestrator lines), with
    near misses of every kind: other blanks (a tab inside a field shifts the fields only for
    a rule that splits at spaces alone), missing fields, `platform:-x`, empty fields."""
    platforms = [b"x86_64", b"aarch64", b"-", b"-x", b"", b"a/b", b"_metadata_"]
    lines = []
    for _ in range(count):
        inner = rng.choice([b"2021-06-09 10:00:00,123 platform:- ", b"d t platform:- ",
                            b"d t platform:-", b"d t platform:-x ", b"d  t platform:- ", b""])
        line = (b"2021-06-09 10:00:00,124 platform:" + rng.choice(platforms)
                + rng.choice([b" - atomic_reactor.plugins.orchestrate_build - INFO - ",
                              b" - n - DEBUG - ", b" - n - ", b"\t- n - INFO - ",
                              b" -\tn - INFO - X "])
                + inner + rng.choice([b"text", b"", b" lead", b"\xff\xfe x", b"a\rb"]))
        lines.append(line if rng.random() < 0.95 else rng.choice([b"", b" ", b"plain"]) + line)
    return lines


def test_relayed_split_agrees_with_the_per_line_rule():
    taken = 0
    for line in relayed_shaped_lines(random.Random(11), 3000):
        split = split_relayed(line + b"\n")
        if split is None:
            continue
        taken += 1
        platform, text = parse_log_line(line)
        (field,) = split.fields
        if field is None:
            assert platform is None, line
            assert relayed_lines(split, None) == line + b"\n", line
        else:
            assert field.decode("utf-8", "surrogateescape") == platform, line
            assert relayed_lines(split, field) == text + b"\n", line
    assert taken > 400        # the shapes it is for are taken, not only refused


def test_a_relayed_block_splits_by_platform_like_its_lines_one_by_one():
    rng = random.Random(12)
    good = [line for line in relayed_shaped_lines(rng, 4000)
            if split_relayed(line + b"\n") is not None]
    for size in (1, 2, 7, 300):
        block_lines = good[:size]
        good = good[size:]
        split = split_relayed(b"".join(line + b"\n" for line in block_lines))
        assert split is not None
        fields = split.fields
        for field in set(fields):
            want = b"".join((parse_log_line(line)[1] if field is not None else line) + b"\n"
                            for line, f in zip(block_lines, fields) if f == field)
            assert relayed_lines(split, field, len(set(fields)) > 1) == want
    # one line of another shape anywhere refuses the whole block
    block = b"".join(line + b"\n" for line in good[:50])
    for bad in (b"plain text", b"", b"2021-06-09 10:00:00 platform:x86_64 - n - INFO - x"):
        for at in (0, 25, 50):
            lines = good[:50]
            assert split_relayed(b"".join(line + b"\n" for line in
                                          lines[:at] + [bad] + lines[at:])) is None
    assert split_relayed(block) is not None


def spaced_lines(rng: random.Random, count: int) -> list[bytes]:
    """Near misses without any whitespace but spaces (the blocks the `[^ ]+` fields are for),
    and lines the fast fields could run past: no spaces at all, fewer than three fields."""
    lines = [line.replace(b"\t", b" ").replace(b"\r", b"")
             for line in relayed_shaped_lines(rng, count)]
    odd = [b"x", b"a b", b"a b platform:x86_64", b"a b platform:- x", b"a  b platform:- x",
           b"y" * 300, b"a b platform:x86_64 - n - INFO - d", b"d t platform:-"]
    for _ in range(count // 5):
        lines.insert(rng.randrange(len(lines) + 1), rng.choice(odd))
    return lines


def test_blocks_of_spaces_and_newlines_split_like_their_lines_one_by_one():
    """Such blocks take the `[^ ]+` fields, which may run past a newline: whatever they
    accept must still split exactly like the line rule, and real lines must be accepted."""
    rng = random.Random(14)
    lines, accepted = spaced_lines(rng, 6000), 0
    for size in (1, 2, 3, 5, 40):
        for start in range(0, len(lines) - size, size):
            block_lines = lines[start:start + size]
            split = split_relayed(b"".join(line + b"\n" for line in block_lines))
            if split is None:
                continue
            accepted += 1
            for field in set(split.fields):
                want = b"".join((parse_log_line(line)[1] if field is not None else line)
                                + b"\n" for line, f in zip(block_lines, split.fields)
                                if f == field)
                assert relayed_lines(split, field) == want, block_lines
    assert accepted > 2000
    good = [line for line in lines if split_relayed(line + b"\n") is not None]
    assert split_relayed(b"".join(line + b"\n" for line in good)) is not None


STAMPS = [b"2026-12-02T07:28:09.123456789Z ", b"2026-12-02T07:28:09.1Z ",
          b"2026-12-02T07:28:09Z ", b"2026-12-02T09:28:09.120000000+02:00 "]


def test_a_prefixed_split_drops_each_lines_timestamp_in_the_same_pass():
    rng = random.Random(15)
    lines = relayed_shaped_lines(rng, 3000) + spaced_lines(rng, 1000)
    rng.shuffle(lines)
    for size in (1, 4, 30, 300):
        for start in range(0, 1200, size):
            block_lines = lines[start:start + size]
            plain = b"".join(line + b"\n" for line in block_lines)
            raw = b"".join(rng.choice(STAMPS) + line + b"\n" for line in block_lines)
            want, got = split_relayed(plain), split_relayed(raw, PREFIX)
            if want is None or got is None:
                # a prefix never makes a block acceptable; the two field patterns may differ
                # only in refusing (a block of one kind and the other)
                assert got is None or want is None
                continue
            assert (got.fields, got.inners, got.texts) == (want.fields, want.inners, want.texts)
            assert got.prefix_bytes == len(raw) - len(plain)


def test_one_line_without_a_proper_timestamp_refuses_a_prefixed_block():
    good = [line for line in relayed_shaped_lines(random.Random(16), 200)
            if split_relayed(line + b"\n") is not None][:20]
    for bad in (b"", b"2026-12-02T07:28:09Z", b"2026-12-02 07:28:09Z ", b"x ",
                b"2026-12-02T07:28:09.1234567890Z ", b"2026-12-02T07:28:09.Z ",
                b"2026-12-02T07:28:09+0200 ", b"2026-12-02T07:28:09Z  "):
        for at in (0, 10, 19):
            raw = b"".join((bad if i == at else STAMPS[0]) + line + b"\n"
                           for i, line in enumerate(good))
            assert split_relayed(raw, PREFIX) is None, (bad, at)
