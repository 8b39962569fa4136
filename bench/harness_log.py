"""One large-log buildContainer task on the real Koji harness, measured (``harness_log.sh``).

Prints one table row per run: bytes the simulator emitted, bytes of the task's logs on the
hub (``/mnt/koji/work/tasks/...``) against what the demux rule makes of the emitted log, lines
lost, time (build Running -> task CLOSED), MB/s, kojid's task-process CPU; then the same for
the upstream pipeline (``upstream_pipeline.py``) on the same log through the same link.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import koji
import requests
import upstream_pipeline
from harness_koji import (
    BUILDS,
    FINISHED,
    HUB,
    STATE,
    TOPDIR,
    branch_sha,
    ensure_target,
    session,
    submit_scratch,
)
from measure import children_cpu, count_across, file_digest

from koji_containerbuild.logs.demux import LogDemux

MARK = b"large-log line"


def fast_session(hub: str, who: str) -> koji.ClientSession:
    return session(who, hub, {"use_fast_upload": True})


def main() -> None:
    ap = argparse.ArgumentParser()
    for opt in ("--sim", "--token-file", "--hub", "--git", "--gitroot"):
        ap.add_argument(opt, required=True)
    ap.add_argument("--rate", type=float, default=0)
    args = ap.parse_args()
    token = Path(args.token_file).read_text().strip()
    auth = {"Authorization": f"Bearer {token}"}
    kojid_pid = int((STATE / "run" / "kojid.pid").read_text())
    ensure_target(fast_session(HUB, "kojiadmin"))
    sha = branch_sha(args.gitroot)
    packager = fast_session(HUB, "packager")
    cpu0 = children_cpu(kojid_pid)
    task = submit_scratch(packager, args.git, sha)
    build = None
    deadline = time.monotonic() + 300
    while build is None:
        items = requests.get(args.sim + BUILDS, headers=auth, timeout=30).json()["items"]
        build = next((b for b in items if b["metadata"]["labels"].get("koji-task-id")
                      == str(task) and b["status"]["phase"] in ("Running", "Complete")), None)
        if build is None and (time.monotonic() > deadline
                              or packager.getTaskInfo(task)["state"] in FINISHED):
            raise SystemExit(f"task {task}: no running build "
                             f"({koji.TASK_STATES[packager.getTaskInfo(task)['state']]})")
        time.sleep(0.02)
    started = time.monotonic()
    while packager.getTaskInfo(task)["state"] not in FINISHED:
        time.sleep(0.02)
    elapsed = time.monotonic() - started
    state = koji.TASK_STATES[packager.getTaskInfo(task)["state"]]
    deadline = time.monotonic() + 15         # kojid reaps the task process in its loop
    while children_cpu(kojid_pid) == cpu0 and time.monotonic() < deadline:
        time.sleep(0.2)
    cpu = children_cpu(kojid_pid) - cpu0
    name = build["metadata"]["name"]
    folder = TOPDIR / "work" / koji.pathinfo.taskrelpath(task)
    with tempfile.TemporaryDirectory() as out, requests.get(
            f"{args.sim}{BUILDS}/{name}/log", headers=auth, stream=True, timeout=60) as r:
        emitted = 0
        with LogDemux(out) as demux:
            def fed():
                nonlocal emitted
                for chunk in r.iter_content(1 << 20):
                    emitted += len(chunk)
                    demux.feed(chunk)
                    yield chunk
            lines = count_across(fed(), MARK)
        want = {p.name: file_digest(p) for p in Path(out).glob("*.log")}
    got = {n: file_digest(folder / n) for n in want if (folder / n).is_file()}
    with open(folder / "x86_64.log", "rb") as f:
        shipped = count_across(iter(lambda: f.read(1 << 20), b""), MARK)
    link = f"{args.rate:g} MB/s link" if args.rate else "direct"
    chunks = f", {int(os.environ.get('CHUNK', 1 << 20)) >> 10} KiB chunks"
    print(f"| task {task}, kojid->hub {link}{chunks} | {emitted} | "
          f"{sum(s for s, _ in got.values())} of "
          f"{sum(s for s, _ in want.values())} ({'identical' if got == want else 'DIFFERENT'}) "
          f"| {lines - shipped} | {elapsed:.1f} s | {emitted / elapsed / 1e6:.1f} | "
          f"{cpu:.2f} s ({cpu / emitted * 1e8:.2f} s/100 MB) | {state} |", flush=True)
    with tempfile.TemporaryDirectory() as out:
        base = upstream_pipeline.run(args.sim, token, name, args.hub, None, None, out,
                                     f"bench-upstream/{task}-{int(time.time())}",
                                     make_session=lambda: fast_session(args.hub, "packager"))
    print(f"| upstream pipeline, same log, {link} | {emitted} | {base['bytes']} (local) | - | "
          f"{base['seconds']:.1f} s | {emitted / base['seconds'] / 1e6:.1f} | "
          f"{base['cpu']:.2f} s ({base['cpu'] / emitted * 1e8:.2f} s/100 MB) | - |", flush=True)


if __name__ == "__main__":
    main()
