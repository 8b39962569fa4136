"""Shared pieces of the OpenShift client tests (no tests here): fixtures, URLs, fake bodies,
a fake clock, and a tiny loopback HTTP server for what ``responses`` cannot show (blocking
reads, streaming as data arrives)."""

from __future__ import annotations

import copy
import io
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Optional

from koji_containerbuild.openshift.client import OpenShiftClient
from tests.fixtures import OPENSHIFT_FIXTURES

FIXTURES = OPENSHIFT_FIXTURES
BASE = 'https://openshift.example.com:8443/'
HOST = 'https://openshift.example.com:8443'
NS = 'osbs-stage'
TOKEN = 'sEcReT-t0ken-value'
BUILDS = f'{HOST}/apis/build.openshift.io/v1/namespaces/{NS}/builds'
BUILDCONFIGS = f'{HOST}/apis/build.openshift.io/v1/namespaces/{NS}/buildconfigs'
PODS = f'{HOST}/api/v1/namespaces/{NS}/pods'
CONFIGMAPS = f'{HOST}/api/v1/namespaces/{NS}/configmaps'
ISTAGS = f'{HOST}/apis/image.openshift.io/v1/namespaces/{NS}/imagestreamtags'


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def build_in_phase(phase: str, name: str = 'test-build-123', version: int = 1) -> dict:
    build = copy.deepcopy(fixture('build_test-build-123.json'))
    build['metadata']['name'] = name
    build['metadata']['resourceVersion'] = str(version)
    build['status']['phase'] = phase
    return build


def status_body(code: int, reason: str, message: str) -> dict:
    return {'kind': 'Status', 'apiVersion': 'v1', 'metadata': {}, 'status': 'Failure',
            'message': message, 'reason': reason, 'code': code}


def watch_body(*events: tuple[str, dict]) -> bytes:
    return b''.join(json.dumps({'type': kind, 'object': obj}).encode() + b'\n'
                    for kind, obj in events)


class FakeClock:
    """time.monotonic stand-in; ``sleep`` advances it and records the waits."""

    def __init__(self, step: float = 0.0) -> None:
        self.now = 1000.0
        self.step = step  # added on each reading: time passing while work happens
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        self.now += self.step
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def make_client(clock: Optional[FakeClock] = None, **kwargs) -> OpenShiftClient:
    clock = clock or FakeClock()
    kwargs.setdefault('retries', 3)
    kwargs.setdefault('backoff_factor', 0.5)
    return OpenShiftClient(BASE, NS, token=TOKEN, sleep=clock.sleep, clock=clock, **kwargs)


class _CutRaw(io.RawIOBase):
    """Serves ``data`` in small reads, then fails like a broken connection at ``cut_at``."""

    def __init__(self, data: bytes, cut_at: int, error: type[Exception]) -> None:
        self.data, self.cut_at, self.error, self.pos = data, cut_at, error, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.pos >= len(self.data) and self.cut_at > len(self.data):
            return 0  # no cut inside the data: a normal end
        if self.pos >= self.cut_at:
            raise self.error('connection cut by the test')
        n = min(len(buffer), self.cut_at - self.pos, len(self.data) - self.pos, 7)
        buffer[:n] = self.data[self.pos:self.pos + n]
        self.pos += n
        return n


def cut_body(data: bytes, cut_at: int, error: type[Exception] = ConnectionResetError
             ) -> io.BufferedReader:
    """A ``responses`` body that breaks after ``cut_at`` bytes (socket.timeout = read timeout)."""
    return io.BufferedReader(_CutRaw(data, cut_at, error))


class LoopbackServer:
    """A threaded HTTP/1.1 server on 127.0.0.1; ``handler(request_handler)`` answers each one."""

    def __init__(self, handler: Callable[[BaseHTTPRequestHandler], None]) -> None:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'

            def do_GET(self) -> None:  # noqa: N802 - http.server naming
                length = int(self.headers.get('Content-Length') or 0)
                self.body = self.rfile.read(length) if length else b''
                handler(self)

            do_PUT = do_POST = do_GET  # noqa: N815

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.server.daemon_threads = True
        self.url = f'http://127.0.0.1:{self.server.server_address[1]}/'
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,),
                                       daemon=True)

    def __enter__(self) -> LoopbackServer:
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.server.shutdown()
        self.server.server_close()


def send_json(handler: BaseHTTPRequestHandler, obj: dict, status: int = 200) -> None:
    body = json.dumps(obj).encode()
    handler.send_response(status)
    handler.send_header('Content-Type', 'application/json')
    handler.send_header('Content-Length', str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def start_chunked(handler: BaseHTTPRequestHandler, content_type: str = 'text/plain') -> None:
    handler.send_response(200)
    handler.send_header('Content-Type', content_type)
    handler.send_header('Transfer-Encoding', 'chunked')
    handler.send_header('Connection', 'close')
    handler.end_headers()


def send_chunk(handler: BaseHTTPRequestHandler, data: bytes) -> None:
    handler.wfile.write(b'%x\r\n%s\r\n' % (len(data), data))
    handler.wfile.flush()


def end_chunked(handler: BaseHTTPRequestHandler) -> None:
    handler.wfile.write(b'0\r\n\r\n')
    handler.wfile.flush()


def silent_build_server(release: threading.Event) -> LoopbackServer:
    """Build ``b`` Running whose log says one line and then nothing until ``release``."""
    def handle(handler: BaseHTTPRequestHandler) -> None:
        if '/log' in handler.path:
            start_chunked(handler)
            send_chunk(handler, b'building...\n')
            release.wait(20)
        elif 'watch=true' in handler.path:
            start_chunked(handler, 'application/json')
            end_chunked(handler)
        else:
            send_json(handler, build_in_phase('Running', 'b'))
    return LoopbackServer(handle)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]
