"""allow_password_in_scm_url: the password lets this builder fetch a private repository and
goes nowhere else: not to OpenShift (Build, BuildConfig, labels, USER_PARAMS, request paths),
not into the task's logs or result. OSBS gets the URI without the user part, as upstream."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

from koji_containerbuild.sandbox.distgit import create_container_repo

from .conftest import TOKEN
from .helpers import STATES, fault_of, user_params

USER, PASSWORD = "bob", "hunter2-Secret"


class _GitOverHttp(BaseHTTPRequestHandler):
    """git's smart HTTP protocol (git http-backend as CGI) behind HTTP basic auth."""

    root: Path
    expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._serve()

    def do_POST(self) -> None:  # noqa: N802
        self._serve()

    def log_message(self, *args) -> None:
        pass

    def _serve(self) -> None:
        if self.headers.get("Authorization") != self.expected:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        path, _, query = self.path.partition("?")
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        env = dict(os.environ, GIT_PROJECT_ROOT=str(self.root), GIT_HTTP_EXPORT_ALL="1",
                   REQUEST_METHOD=self.command, PATH_INFO=path, QUERY_STRING=query,
                   CONTENT_TYPE=self.headers.get("Content-Type", ""),
                   CONTENT_LENGTH=str(len(body)), REMOTE_USER=USER)
        if self.headers.get("Git-Protocol"):
            env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
        out = subprocess.run(["git", "http-backend"], input=body, env=env,
                             capture_output=True, check=True).stdout
        head, _, payload = out.partition(b"\r\n\r\n")
        status = 200
        headers = []
        for line in head.decode().split("\r\n"):
            name, _, value = line.partition(": ")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers.append((name, value))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def _serve_git(root: Path) -> ThreadingHTTPServer:
    handler = type("Handler", (_GitOverHttp,), {"root": root})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_password_in_the_scm_url_never_leaves_the_builder(world, tmp_path, monkeypatch):
    sha = create_container_repo(world.git.base, "private", component="hello-container")
    # a builder whose git would store credentials: the fetch must not let it
    store = tmp_path / "git-credentials"
    gitconfig = tmp_path / "builder-gitconfig"
    gitconfig.write_text(f"[credential]\n\thelper = store --file {store}\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(gitconfig))
    server = _serve_git(world.git.base)
    try:
        port = server.server_address[1]
        world.manager().options.allow_password_in_scm_url = True
        src = f"git+http://{USER}:{PASSWORD}@127.0.0.1:{port}/container/private.git#{sha}"
        task_id = world.submit({}, src=src)   # a regular build: BuildConfig + instantiate
        assert world.run(task_id)["state"] == STATES["CLOSED"], fault_of(world, task_id)
    finally:
        server.shutdown()
        server.server_close()

    [build] = world.builds()
    assert build["spec"]["source"]["git"]["uri"] == f"http://127.0.0.1:{port}/container/private.git"
    assert user_params(build)["git_uri"] == f"http://127.0.0.1:{port}/container/private.git"
    config = requests.get(f"{world.sim.url}/apis/build.openshift.io/v1/namespaces/default/"
                          "buildconfigs", headers={"Authorization": f"Bearer {TOKEN}"},
                          timeout=10).json()
    seen_by_openshift = json.dumps([build, config, world.sim.requests])
    outputs = {name: world.output(task_id, name) for name in world.outputs(task_id)}
    assert "checkout-for-labels.log" in outputs and "osbs-client.log" in outputs
    for secret in (PASSWORD, f"{USER}:", f"{USER}@"):   # the user part is dropped too
        assert secret not in seen_by_openshift
        assert secret not in json.dumps(world.result(task_id))
    for name, content in outputs.items():
        assert PASSWORD.encode() not in content, name
    assert b"bob:***@" in outputs["checkout-for-labels.log"]  # the log says what was fetched
    assert not store.exists()
