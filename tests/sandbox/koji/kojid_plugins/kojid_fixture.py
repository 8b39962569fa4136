"""A builder plugin for the sandbox kojid tests: ``buildContainer`` as a tiny task whose
behaviour ``opts['fixture']`` chooses. Each run appends JSON lines to
``$KOJID_FIXTURE_DIR/task-<id>.jsonl`` (start, every signal seen) so a test can tell what the
task process lived through.

- ``ok``: writes ``orchestrator.log``, uploads it with the task's session, returns a result;
- ``fail``: raises ``koji.BuildError``;
- ``block``: waits for signals; SIGINT and SIGTERM end it as kojid's handlers make them end;
- ``ignore-int``: like ``block`` but survives the first SIGINT (records it, keeps waiting);
- ``block-once``: ``block`` on its first run, ``ok`` on later runs (a task re-run by kojid).
"""

import json
import os
import time

import koji
from koji.tasks import BaseTaskHandler


class FixtureContainerTask(BaseTaskHandler):
    Methods = ["buildContainer"]
    _taskWeight = 0.3

    def _record(self, event, **extra):
        path = os.path.join(os.environ["KOJID_FIXTURE_DIR"], f"task-{self.id}.jsonl")
        with open(path, "a") as f:
            f.write(json.dumps(dict(extra, event=event, pid=os.getpid(), t=time.time())) + "\n")
            f.flush()

    def _runs_so_far(self):
        path = os.path.join(os.environ["KOJID_FIXTURE_DIR"], f"task-{self.id}.jsonl")
        if not os.path.exists(path):
            return 0
        with open(path) as f:
            return sum(json.loads(line)["event"] == "start" for line in f)

    @staticmethod
    def _wait_for_signals():
        while True:  # sleep, not signal.pause(): a signal just before pause() would be lost
            time.sleep(0.05)

    def handler(self, src, target, opts=None):
        mode = (opts or {}).get("fixture", "ok")
        run = self._runs_so_far() + 1
        self._record("start", run=run, pgid=os.getpgrp(), ppid=os.getppid(),
                     session=self.session.sinfo["session-id"],
                     options={k: getattr(self.options, k) for k in (
                         "allowed_scms", "allowed_scms_use_policy", "topurl", "workdir")})
        if mode == "fail":
            raise koji.BuildError(f"fixture failure for {target}")
        if mode == "ok" or (mode == "block-once" and run > 1):
            log = os.path.join(self.workdir, "orchestrator.log")
            with open(log, "wb") as f:
                f.write(f"run {run} of {src}\n".encode())
            self.uploadFile(log)
            return {"repositories": [f"registry.example.com/{target}:{run}"], "run": run,
                    "pid": os.getpid()}
        try:
            self._wait_for_signals()
        except KeyboardInterrupt:
            self._record("SIGINT")
            if mode != "ignore-int":
                raise
        try:
            self._wait_for_signals()
        except SystemExit:
            self._record("SIGTERM")
            raise
