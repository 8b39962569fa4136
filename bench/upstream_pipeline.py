"""A same-run baseline for the log figures: the upstream plugin's log pipeline (KCB 0.12 with
osbs-client 1.10), rebuilt from their behaviour on this machine.

* A forked child follows the log as osbs-client's ``stream_logs`` does (``requests``
  ``iter_lines()``, 512-byte reads), decodes each line, splits it with osbs-client's
  ``_parse_build_log_entry`` rule (osbs1-contract.md §5.3) and writes it to
  ``orchestrator.log`` or ``<platform>.log`` with a flush per line (KCB's fix for #38).
* The parent polls the child every second and uploads each file with
  ``koji.daemon.incremental_upload`` (64 KiB per call, kojid's fast upload), once more after
  the child has exited.

Nothing of this project's code is used, so the figures compare pipelines, not helpers.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable, Optional

import koji
import requests
from koji.daemon import incremental_upload

LOG_PATH = "/apis/build.openshift.io/v1/namespaces/default/builds/{}/log/"


def parse_entry(entry: str) -> tuple[str, str]:
    """osbs-client 1.10 ``_parse_build_log_entry`` (contract §5.3), None → orchestrator."""
    items = entry.split()
    if len(items) < 4 or not items[2].startswith("platform:"):
        return "orchestrator", entry
    platform = items[2].split(":", 1)[1]
    if platform == "-":
        return "orchestrator", entry
    line = entry[sum(len(items[i]) + 1 for i in range(8)):]
    items = line.split()
    if len(items) > 2 and items[2] == "platform:-":
        line = f"{items[0]} {items[1]} {line[sum(len(items[i]) + 1 for i in range(3)):]}"
    return platform, line


def _follow(url: str, token: str, outdir: str) -> None:
    files = {}
    with requests.get(url, params={"follow": 1}, stream=True, timeout=60,
                      headers={"Authorization": f"Bearer {token}", "Connection": "close"}) as r:
        r.raise_for_status()
        for raw in r.iter_lines():
            for entry in raw.decode("utf-8", "replace").splitlines():
                platform, line = parse_entry(entry)
                handle = files.get(platform)
                if handle is None:
                    handle = files[platform] = open(os.path.join(outdir, platform + ".log"),
                                                    "w", encoding="utf-8")
                handle.write(line + "\n")
                handle.flush()
    for handle in files.values():
        handle.close()


def run(sim_url: str, token: str, build_name: str, hub_url: str, user: Optional[str],
        password: Optional[str], outdir: str, upload_dir: str,
        make_session: Optional[Callable[[], Any]] = None) -> dict:
    """Follow and upload one build's log the upstream way; seconds, CPU and bytes shipped."""
    Path(outdir).mkdir(parents=True, exist_ok=True)
    if make_session is not None:
        session = make_session()
    else:
        session = koji.ClientSession(hub_url, {"user": user, "password": password,
                                               "use_fast_upload": True})
        session.login()
    fds: dict = {}

    def upload_all() -> None:
        for name in sorted(os.listdir(outdir)):
            if name.endswith(".log"):
                fd = fds.get(name)
                if fd is None:
                    fd = fds[name] = open(os.path.join(outdir, name), "rb")
                incremental_upload(session, name, fd, upload_dir)

    started = time.monotonic()
    uploader_cpu = time.thread_time()
    pid = os.fork()
    if pid == 0:  # the child, as KCB forks one
        code = 1
        try:
            _follow(sim_url + LOG_PATH.format(build_name), token, outdir)
            code = 0
        finally:
            os._exit(code)
    while True:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            break
        upload_all()
        time.sleep(1.0)                   # KCB: waitpid poll every second
    upload_all()
    elapsed = time.monotonic() - started
    uploader_cpu = time.thread_time() - uploader_cpu
    cpu = usage.ru_utime + usage.ru_stime + uploader_cpu
    for fd in fds.values():
        fd.close()
    session.logout()
    shipped = sum(os.path.getsize(os.path.join(outdir, n)) for n in fds)
    return {"seconds": elapsed, "cpu": cpu, "uploader_cpu": uploader_cpu, "bytes": shipped,
            "exit": status}
