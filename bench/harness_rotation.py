"""A rotated and cut build log through the REAL Koji hub and kojid (``harness_rotation.sh``).

One ``slow-log`` buildContainer task per run against the project's OpenShift simulator with
rotation every 1 MiB and every log connection cut after 512 KiB of its own (and, for the late
reader, log requests answered seconds late). Prints one row: the task's state, the gaps its
``osbs-client.log`` reports, and whether its logs on the hub are byte-identical to what the
simulator emitted less exactly the lines inside those gaps.
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from pathlib import Path

import koji
import requests
from harness_koji import (
    BUILDS,
    FINISHED,
    TOPDIR,
    branch_sha,
    ensure_target,
    session,
    submit_scratch,
)

from koji_containerbuild.logs.demux import LogDemux
from koji_containerbuild.openshift.logresume import parse_timestamp

GAP = re.compile(rb"lines written between (\S+) \(after its line (\d+)\) and (\S+) were "
                 rb"rotated out")
STAMPED = re.compile(rb"(\S+) (.*\n?)", re.S)


def expected(stamped: bytes, plugin_log: bytes) -> tuple[dict[str, bytes], int, int]:
    """The demultiplexed logs of the emitted log less the reported gaps; (files, gaps, lines
    dropped)."""
    gaps = [(parse_timestamp(a), int(n), parse_timestamp(b))
            for a, n, b in GAP.findall(plugin_log)]
    kept, dropped, previous, ordinal = [], 0, None, 0
    for raw in stamped.splitlines(keepends=True):
        stamp_text, line = STAMPED.fullmatch(raw).groups()
        stamp = parse_timestamp(stamp_text)
        ordinal = ordinal + 1 if stamp == previous else 1
        previous = stamp
        if any(a < stamp < b or (stamp == a and ordinal > n) for a, n, b in gaps):
            dropped += 1
        else:
            kept.append(line)
    with tempfile.TemporaryDirectory() as out:
        with LogDemux(out) as demux:
            demux.feed(b"".join(kept))
        return ({p.name: p.read_bytes() for p in Path(out).glob("*.log")}, len(gaps),
                dropped)


def main() -> None:
    ap = argparse.ArgumentParser()
    for opt in ("--sim", "--token-file", "--git", "--gitroot"):
        ap.add_argument(opt, required=True)
    ap.add_argument("--lines", type=int, default=20000)
    ap.add_argument("--rate", type=float, default=800.0)
    ap.add_argument("--open-seconds", type=float, default=0.0)
    args = ap.parse_args()
    auth = {"Authorization": f"Bearer {Path(args.token_file).read_text().strip()}"}
    ensure_target(session("kojiadmin"))
    requests.put(f"{args.sim}/_sandbox/scenario", timeout=30, json={
        "default": "slow-log", "slow_log_lines": args.lines, "slow_log_rate": args.rate})
    requests.put(f"{args.sim}/_sandbox/faults", timeout=30, json={
        "log_rotate_bytes": 1 << 20, "log_cut_bytes": 512 << 10,
        "log_cut_counts_resent": True, "log_open_seconds": args.open_seconds})
    sha = branch_sha(args.gitroot)
    packager = session("packager")
    task = submit_scratch(packager, args.git, sha)
    started = time.monotonic()
    while packager.getTaskInfo(task)["state"] not in FINISHED:
        if time.monotonic() - started > 600:
            raise SystemExit(f"task {task} did not finish in 600 s")
        time.sleep(0.5)
    state = koji.TASK_STATES[packager.getTaskInfo(task)["state"]]
    requests.put(f"{args.sim}/_sandbox/faults", timeout=30, json={
        "log_rotate_bytes": None, "log_cut_bytes": None, "log_cut_counts_resent": False,
        "log_open_seconds": 0.0})
    items = requests.get(args.sim + BUILDS, headers=auth, timeout=30).json()["items"]
    [build] = [b for b in items if b["metadata"]["labels"].get("koji-task-id") == str(task)]
    name = build["metadata"]["name"]
    stamped = requests.get(f"{args.sim}{BUILDS}/{name}/log", params={"timestamps": "true"},
                           headers=auth, timeout=120).content
    folder = TOPDIR / "work" / koji.pathinfo.taskrelpath(task)
    plugin_log = (folder / "osbs-client.log").read_bytes()
    want, gaps, dropped = expected(stamped, plugin_log)
    got = {n: (folder / n).read_bytes() for n in want if (folder / n).is_file()}
    same = got == want
    connections = sum(1 for _m, path in requests.get(f"{args.sim}/_sandbox/requests",
                                                     timeout=30).json()
                      if f"/builds/{name}/log" in path)
    late = f", log requests {args.open_seconds:g} s late" if args.open_seconds else ""
    print(f"| task {task}: {args.lines} lines @ {args.rate:g}/s, rotate 1 MiB, cut 512 KiB"
          f"{late} | {state} | {connections} | {gaps} | {dropped} | "
          f"{sum(map(len, got.values()))} of {sum(map(len, want.values()))} "
          f"({'identical' if same else 'DIFFERENT'}) |", flush=True)
    for line in plugin_log.splitlines():
        if b"rotated out" in line:
            print("   ", line.decode(errors="replace"))


if __name__ == "__main__":
    main()
