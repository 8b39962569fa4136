"""``make demo``: one container build through all three plugins, on this machine, on loopback.

Starts the sandbox (``services``: OpenShift simulator, Koji hub, DistGit, kojid; a real
buildah build and a loopback registry when the machine has them), clones the sample
``container/hello`` repository as a packager would, runs the real ``koji`` CLI with our plugin
inside the clone (``koji container-build``: source, branch and target inferred from the
checkout), shows the task's streamed log, checks the resulting repositories in the registry and
makes a source container build of the image build (real builds only).
Everything lives in one folder (``--dir``, default ``./sandbox-run``); the services stop at the
end, on Ctrl-C and on errors, unless ``--keep``. ``--stop`` ends a kept sandbox, ``--clean``
removes the folder.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Optional

import koji

from koji_containerbuild.sandbox.demo.processes import (
    SandboxError,
    log_tail,
    remove_folder,
    running_recorded,
    stop_recorded,
)
from koji_containerbuild.sandbox.demo.services import PROFILE, Sandbox
from koji_containerbuild.sandbox.koji.hub import DEMO
from koji_containerbuild.sandbox.openshift.buildah import INSTALL_HINT
from koji_containerbuild.sandbox.openshift.registry import RegistryError, manifest_digest

DEFAULT_DIR = "sandbox-run"
SAMPLE = "hello"


def shown(path: os.PathLike) -> str:
    """A path as the user can type it from where they ran the demo."""
    relative = os.path.relpath(path)
    return relative if not relative.startswith("..") else str(path)


class Demo:
    """The demo's story on a sandbox: what it runs and what it tells the user."""

    def __init__(self, sandbox: Sandbox, started: float):
        self.sandbox, self.started = sandbox, started
        self.root = sandbox.layout.root
        # absolute paths: the commands shown must work when pasted after a `cd`
        self.koji_short = shlex.join([sandbox.koji, "-c", str(sandbox.layout.koji_conf),
                                      "-p", PROFILE])

    def say(self, text: str = "") -> None:
        print(text, flush=True)

    def stamp(self, text: str) -> None:
        self.say(f"  [{time.monotonic() - self.started:5.1f}s] {text}")

    def run(self, argv: list[str], shown_as: str, cwd: Optional[Path] = None) -> tuple[int, str]:
        """Run a command in front of the user: its line, then its output as it comes."""
        self.say(f"$ {shown_as}")
        proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, text=True,
                                env=dict(os.environ, PYTHONUNBUFFERED="1"))
        output = []
        for line in proc.stdout:  # type: ignore[union-attr]
            output.append(line)
            print(line, end="", flush=True)
        return proc.wait(), "".join(output)

    # -- the story ------------------------------------------------------------------------------
    def play(self) -> int:
        sandbox = self.sandbox
        self.say("Starting the services (each a process of its own, on 127.0.0.1):")
        sandbox.start(report=self.stamp)
        if sandbox.real:
            self.say(f"Builds are real: buildah (vfs storage in {shown(sandbox.layout.engine)}) "
                     f"pushes to docker-registry at {sandbox.registry}.")
        else:
            hint = "" if INSTALL_HINT in str(sandbox.reason) else f" For real ones: {INSTALL_HINT}."
            self.say(f"Builds are SIMULATED (the 'success' scenario; repositories are made up): "
                     f"{sandbox.reason}.{hint}")
        sandbox.add_repo(SAMPLE)
        checkout = sandbox.clone(SAMPLE)
        self.say()
        self.say(f"Sample DistGit repository container/{SAMPLE}: Dockerfile FROM "
                 f"{sandbox.base_image}, additional-tags 'latest f39'. A packager's clone:")
        self.say(f"$ git clone -b f39 git://127.0.0.1:{sandbox.git_port}/container/{SAMPLE}.git "
                 f"{shown(checkout)}")
        self.say()
        self.say(f"Building it with the koji CLI and this project's plugin "
                 f"(koji = {self.koji_short}):")
        self.say(f"$ cd {shown(checkout)}")
        code, output = self.run(
            sandbox.koji_argv("container-build", "--wait"),
            f"koji --user {DEMO['user']} --password {DEMO['password']} container-build --wait",
            cwd=checkout)
        found = re.search(r"^Created task: (\d+)$", output, re.MULTILINE)
        if not found:
            self.say(f"The koji CLI did not create a task (exit status {code}).")
            return 1
        task_id = int(found.group(1))
        self.say()
        self.say("The log the builder plugin streamed into the task while the image was built:")
        self.run(sandbox.koji_argv("watch-logs", str(task_id), "--log", "x86_64.log",
                                   login=False),
                 f"koji watch-logs {task_id} --log x86_64.log")
        self.say()
        if code != 0:
            self.say(f"The build failed (exit status {code}). kojid's log ends:")
            self.say(log_tail(sandbox.layout.logs / "kojid.log"))
            return 1
        build_ids = self.show_result(task_id)
        return self.source_build(build_ids)

    def source_build(self, build_ids: list) -> int:
        """One source container build of the image build (real builds only)."""
        self.say()
        if not self.sandbox.real or not build_ids:
            self.say("Source container builds are not shown: the simulated engine makes no "
                     "Koji build to take the sources of (they need real builds: "
                     f"{INSTALL_HINT}).")
            return 0
        build_id = str(build_ids[0])
        self.say(f"A source container build of Koji build {build_id} (its sources: the git "
                 "tree the image was built from, as /sources/<NVR>.tar.gz in a FROM scratch "
                 "image):")
        code, output = self.run(
            self.sandbox.koji_argv("source-container-build", DEMO["target"], "--koji-build-id",
                                   build_id, "--wait"),
            f"koji --user {DEMO['user']} --password {DEMO['password']} source-container-build "
            f"{DEMO['target']} --koji-build-id {build_id} --wait")
        if code != 0:
            self.say(f"The source container build failed (exit status {code}). kojid's log "
                     "ends:")
            self.say(log_tail(self.sandbox.layout.logs / "kojid.log"))
            return 1
        found = re.search(r"^Created task: (\d+)$", output, re.MULTILINE)
        result = self.sandbox.session(user=None).getTaskResult(int(found.group(1))) \
            if found else {}
        for pullspec in result.get("repositories") or []:
            try:
                digest = manifest_digest(pullspec) or "MISSING"
            except (RegistryError, OSError) as exc:
                digest = f"unreadable: {exc}"
            self.say(f"  {pullspec}  {digest[:19]}")
        return 0

    def show_result(self, task_id: int) -> list:
        """Show the image build's result; its Koji build ids."""
        session = self.sandbox.session(user=None)
        result = session.getTaskResult(task_id)
        repositories = result.get("repositories") or []
        if self.sandbox.real:
            self.say("The image's repositories, each asked of the registry (manifest digest):")
            digests = set()
            width = max(len(pullspec) for pullspec in repositories) if repositories else 0
            for pullspec in repositories:
                try:
                    digest = manifest_digest(pullspec) or "MISSING"
                except (RegistryError, OSError) as exc:
                    digest = f"unreadable: {exc}"
                digests.add(digest)
                self.say(f"  {pullspec:<{width}}  {digest[:19]}")
            found = len(digests) == 1 and next(iter(digests)).startswith("sha256:")
            self.say(f"  {len(repositories)} tags, " + (
                f"all one manifest: {next(iter(digests))}" if found else "NOT as expected"))
        else:
            self.say(f"Simulated result: {len(repositories)} repositories (no registry behind "
                     "them).")
        for build_id in result.get("koji_builds") or []:
            build = session.getBuild(int(build_id))
            if build is None:
                self.say(f"Koji build {build_id}: made up by the simulated scenario (the hub has "
                         "no such build)")
                continue
            self.say(f"Koji build {build['id']}: {build['nvr']}, "
                     f"{koji.BUILD_STATES[build['state']]}, owner {build['owner_name']} "
                     f"(CGImport by the engine, as atomic-reactor's koji_import)")
        if self.sandbox.real and repositories:
            self.run_image(repositories[0])
        return list(result.get("koji_builds") or [])

    def run_image(self, pullspec: str) -> None:
        buildah = self.sandbox.buildah_argv
        self.say(f"Running it (buildah = buildah --root {shown(self.sandbox.layout.engine)}"
                 "/storage ... --storage-driver vfs):")
        self.say(f"$ buildah run --isolation chroot $(buildah from {pullspec}) cat /hello.txt")
        try:
            container = subprocess.run(buildah("from", "--quiet", "--pull=false", pullspec),
                                       capture_output=True, text=True, check=True).stdout.strip()
            try:
                out = subprocess.run(buildah("run", "--isolation", "chroot", container, "--",
                                             "cat", "/hello.txt"),
                                     capture_output=True, text=True, check=True).stdout
                self.say(out.rstrip())
            finally:
                subprocess.run(buildah("rm", container), capture_output=True, check=False)
        except subprocess.CalledProcessError as exc:
            self.say(f"(could not run it: {(exc.stderr or '').strip().splitlines()[-1:]})")

    def explore(self) -> None:
        sandbox = self.sandbox
        stop = shlex.join([sandbox.python, "-m", "koji_containerbuild.sandbox.demo", "--stop",
                           "--dir", str(self.root)])
        # koji keeps no user/password from a profile: the function carries them, so every
        # koji command below (and any other) works as pasted, from any folder.
        koji_function = (f"koji() {{ {self.koji_short} --user {DEMO['user']} --password "
                         f"{DEMO['password']} \"$@\"; }}")
        checkout = shlex.quote(str(sandbox.layout.checkout / SAMPLE))
        token = shlex.quote(str(sandbox.token_file))
        lines = [
            "The services keep running (--keep). To explore, paste these lines into a shell "
            "(the first makes `koji` this sandbox's, logged in as the packager):",
            f"  {koji_function}",
            "  koji taskinfo 1",
            "  koji watch-logs 1",
            f"  koji list-tagged {DEMO['dest_tag']}",
            f"  koji taginfo {DEMO['build_tag']}",
        ]
        if sandbox.real:  # simulated builds make no Koji builds
            lines += ["  koji buildinfo 1", f"  koji list-builds --package {DEMO['package']}"]
        lines += [
            f"  cd {checkout} && koji container-build --scratch --wait",
            f"  curl -s -H \"Authorization: Bearer $(cat {token})\" "
            f"{sandbox.sim_url}/apis/build.openshift.io/v1/namespaces/default/builds",
        ]
        if sandbox.real:
            lines += [f"  curl -s http://{sandbox.registry}/v2/_catalog",
                      "  " + shlex.join(sandbox.buildah_argv("images"))]
        lines += [f"Logs: {sandbox.layout.logs}/ (the registry's: "
                  f"{sandbox.layout.engine}/registry/registry.log)",
                  f"Stop them with: {stop}   (make demo-clean also removes the folder)"]
        for line in lines:
            self.say(line)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m koji_containerbuild.sandbox.demo",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", default=DEFAULT_DIR,
                        help=f"sandbox folder: state, logs, koji.conf (default ./{DEFAULT_DIR})")
    parser.add_argument("--keep", action="store_true",
                        help="leave the services running and print how to explore them")
    parser.add_argument("--engine", choices=("auto", "buildah", "simulated"), default="auto",
                        help="auto: a real buildah build when buildah and docker-registry are "
                             "installed, else the simulated one")
    parser.add_argument("--stop", action="store_true",
                        help="stop the services a --keep run left in --dir, then exit")
    parser.add_argument("--clean", action="store_true",
                        help="stop them and remove --dir (buildah storage included), then exit")
    return parser


def _raise_interrupt(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Optional[list[str]] = None) -> int:
    args = _parser().parse_args(argv)
    root = Path(args.dir).resolve()
    if args.stop or args.clean:
        stopped = stop_recorded(root) if root.exists() else []
        print(f"Stopped: {', '.join(stopped) or 'nothing was running'}")
        if args.clean:
            try:
                remove_folder(root)
            except SandboxError as exc:
                print(f"demo: {exc}", file=sys.stderr)
                return 1
            print(f"Removed {shown(root)}")
        return 0
    started = time.monotonic()
    signal.signal(signal.SIGTERM, _raise_interrupt)
    print(f"koji-containerbuild sandbox demo: everything on 127.0.0.1, state and logs in "
          f"{shown(root)}/", flush=True)
    still_running = running_recorded(root) if root.exists() else []
    if still_running:
        print(f"A sandbox an earlier --keep run left in {shown(root)}/ is still running "
              f"({', '.join(still_running)}): stopping it and starting afresh; its tasks, builds "
              "and clones are replaced. (To keep exploring it instead, don't run the demo again; "
              "--stop stops it, --dir DIR starts another one elsewhere.)", flush=True)
    sandbox = Sandbox(root, engine=args.engine)
    demo = Demo(sandbox, started)
    code = 1
    try:
        code = demo.play()
    except KeyboardInterrupt:
        print("\nInterrupted.", flush=True)
        code = 130
    except SandboxError as exc:
        print(f"demo: {exc}", file=sys.stderr, flush=True)
    finally:  # output may be gone (a closed pipe): never let that skip the stop
        if args.keep and sandbox.services:
            with contextlib.suppress(OSError):
                demo.explore()
        elif sandbox.services:
            for signum in (signal.SIGINT, signal.SIGTERM):  # let the cleanup finish
                signal.signal(signum, signal.SIG_IGN)
            with contextlib.suppress(OSError):
                print("Stopping the services...", end=" ", flush=True)
            sandbox.stop()
            with contextlib.suppress(OSError):
                print("done.", flush=True)
    print(f"Took {time.monotonic() - started:.1f} s. Everything is in {shown(root)}/ "
          f"(make demo-clean removes it).", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
