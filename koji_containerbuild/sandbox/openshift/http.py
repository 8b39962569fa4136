"""HTTP side of the OpenShift simulator: request handling, fault injection at the wire, watch
streams and log streams (chunked), the OAuth token endpoint and the ``/_sandbox/`` admin hook.
"""

from __future__ import annotations

import json
import logging
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Callable, Optional, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from koji_containerbuild.sandbox.openshift.api import Route, parse_route
from koji_containerbuild.sandbox.openshift.logs import LogBuffer, log_request_start
from koji_containerbuild.sandbox.openshift.store import (
    ApiError,
    Subscription,
    object_fields,
    parse_field_selector,
    parse_label_selector,
)

if TYPE_CHECKING:
    from koji_containerbuild.sandbox.openshift.api import Api
    from koji_containerbuild.sandbox.openshift.engine import BuildEngine
    from koji_containerbuild.sandbox.openshift.faults import FaultInjector
    from koji_containerbuild.sandbox.openshift.store import ObjectStore

log = logging.getLogger(__name__)
LOG_CHUNK = 64 * 1024


class ServedSimulator(Protocol):
    """What the HTTP front uses of the simulator it serves (``simulator.OpenShiftSimulator``,
    which imports this module): its parts, its settings and two hooks."""

    url: str
    token: Optional[str]
    watch_timeout: float
    _store: ObjectStore
    _engine: BuildEngine
    _api: Api
    _injector: FaultInjector
    _stopped: threading.Event

    def _record_request(self, method: str, path: str) -> None: ...
    def _admin(self, method: str, parts: list[str], body: bytes) -> tuple[int, Any]: ...


def _injected(code: int) -> ApiError:
    if code == 503:
        return ApiError(503, "ServiceUnavailable",
                        "the server is currently unable to handle the request")
    return ApiError(code, "InternalError", "Internal error occurred: injected by the sandbox")


def _pinned_name(field_selector: Optional[str]) -> Optional[str]:
    """The name a ``metadata.name=NAME`` field selector term pins a watch to, if any."""
    for term in (field_selector or "").split(","):
        key, _, value = term.replace("==", "=").partition("=")
        if key.strip() == "metadata.name" and not key.endswith("!"):
            return value.strip()
    return None


def _gone_event(resource_version: Optional[str]) -> bytes:
    status = ApiError(410, "Expired", f"too old resource version: {resource_version}").status()
    return json.dumps({"type": "ERROR", "object": status}).encode() + b"\n"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "OpenShiftSandbox/3.9.41"
    timeout = 300
    server: Server

    def setup(self) -> None:
        super().setup()
        # headers and body go out in separate writes: without this, Nagle + delayed ACK
        # add ~40 ms to every answer
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    # -- plumbing ----------------------------------------------------------------------------

    def _handle(self, method: str) -> None:
        sim = self.server.sim
        sim._record_request(method, self.path)
        try:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            url = urlsplit(self.path)
            segments = [unquote(part) for part in url.path.split("/") if part]
            query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
            if segments[:1] == ["_sandbox"]:
                status, obj = sim._admin(method, segments[1:], body)
                if isinstance(obj, LogBuffer):
                    self._send_log_snapshot(obj)
                else:
                    self._reply(status, obj)
            elif segments[:2] == ["oauth", "authorize"]:
                self._oauth(sim)
            else:
                self._api(sim, method, url.path, segments, query, body)
        except ApiError as exc:
            self._reply(exc.code, exc.status())
        except OSError:     # the client went away (or a fault closed the socket)
            self.close_connection = True

    def _api(self, sim: ServedSimulator, method: str, path: str, segments: list[str],
             query: dict[str, str], body: bytes) -> None:
        injector, api = sim._injector, sim._api
        if injector.faults.slow_seconds:
            sim._stopped.wait(injector.faults.slow_seconds)
        api.authenticate(self.headers.get("Authorization"))
        route = parse_route(segments)
        key = f"{method} {path.rstrip('/')}"
        if route.watch or (method == "GET" and route.name is None
                           and query.get("watch") in ("true", "1")):
            api.authorize("watch", route)
            self._watch(sim, route, query, injector.should_reset(key))
            return
        if method == "GET" and route.resource == "builds" and route.sub == "log":
            api.authorize("get", route)
            if injector.faults.log_open_seconds:
                sim._stopped.wait(injector.faults.log_open_seconds)
            self._log(sim, route, query, injector.should_reset(key))
            return
        error = injector.should_error(key)
        if error and (method == "GET" or not injector.error_after_commit(key)):
            raise _injected(error)
        try:
            status, obj = api.dispatch(method, route, query, body)
        except ApiError:
            if error:   # nothing committed; the injected answer still stands
                raise _injected(error) from None
            raise
        if error:       # committed, then the answer is lost in a 5xx
            raise _injected(error)
        self._reply(status, obj, reset=injector.should_reset(key))

    def _reply(self, status: int, obj: Any, reset: bool = False,
               content_type: str = "application/json", headers: Optional[dict] = None) -> None:
        data = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if reset:
            self.wfile.write(data[:len(data) // 2])
            self._abort(rst=True)
            return
        self.wfile.write(data)

    def _send_log_snapshot(self, buffer: LogBuffer) -> None:
        """What a build emitted so far, streamed (it may be hundreds of MB)."""
        size = buffer.size
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        offset = 0
        while offset < size:
            data = buffer.read(offset, min(1 << 20, size - offset))
            self.wfile.write(data)
            offset += len(data)

    def _start_stream(self, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        self.close_connection = True

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%X\r\n" % len(data) + data + b"\r\n")

    def _end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")

    def _abort(self, rst: bool) -> None:
        """End the connection mid-response: a TCP reset, or a bare FIN with no last chunk."""
        self.close_connection = True
        try:
            if rst:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           struct.pack("ii", 1, 0))
                self.connection.close()
            else:
                self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _oauth(self, sim: ServedSimulator) -> None:
        """``/oauth/authorize``: basic (or negotiate) auth in, token in the Location fragment."""
        auth = self.headers.get("Authorization") or ""
        if not auth.lower().startswith(("basic ", "negotiate ")):
            self._reply(401, b"", content_type="text/plain",
                        headers={"WWW-Authenticate": 'Basic realm="openshift"'})
            return
        fragment = f"access_token={sim.token or 'sandbox-token'}&expires_in=86400&token_type=bearer"
        self._reply(302, b"", content_type="text/plain",
                    headers={"Location": f"{sim.url}/oauth/token/display#{fragment}"})

    # -- streams -----------------------------------------------------------------------------

    def _watch(self, sim: ServedSimulator, route: Route, query: dict[str, str],
               reset: bool) -> None:
        """ADDED for what exists, then every change; ends at the timeout (or a fault drop)."""
        store, resource, name = sim._store, route.resource, route.name
        labels = parse_label_selector(query.get("labelSelector"))
        fields = parse_field_selector(resource, query.get("fieldSelector"))

        def wanted(ev_name: str, ev_labels: dict, ev_fields: dict) -> bool:
            return (name is None or ev_name == name) and labels(ev_labels) and fields(ev_fields)

        def wanted_obj(obj: dict) -> bool:
            meta = obj["metadata"]
            return wanted(meta["name"], meta.get("labels") or {}, object_fields(resource, obj))

        resource_version = query.get("resourceVersion")
        sub = store.watch(resource, name or _pinned_name(query.get("fieldSelector")),
                          wanted_obj, resource_version)
        try:
            self._stream_watch(sim, sub, resource_version, query, reset, wanted)
        finally:
            if sub is not None:
                store.unwatch(sub)

    def _stream_watch(self, sim: ServedSimulator, sub: Optional[Subscription],
                      resource_version: Optional[str], query: dict[str, str], reset: bool,
                      wanted: Callable[[str, dict, dict], bool]) -> None:
        start = time.monotonic()
        deadline = start + float(query.get("timeoutSeconds") or sim.watch_timeout)
        drop = sim._injector.faults.watch_drop_seconds
        drop_at = start + drop if drop else float("inf")
        self._start_stream("application/json")
        if sub is None:
            self._chunk(_gone_event(resource_version))
            self._end_stream()
            return
        for line in sub.initial:
            self._chunk(line)
        if reset:
            self._abort(rst=True)
            return
        while True:
            events = sim._store.next_events(sub, min(deadline, drop_at), sim._stopped)
            if events is None:
                self._chunk(_gone_event(resource_version))
                break
            for event in events:
                if wanted(event.name, event.labels, event.fields):
                    self._chunk(event.payload)
            now = time.monotonic()
            if sim._stopped.is_set() or now >= drop_at:
                self._abort(rst=False)
                return
            if now >= deadline:
                break
        self._end_stream()

    def _log(self, sim: ServedSimulator, route: Route, query: dict[str, str],
             reset: bool) -> None:
        """The log from its start (or ``log_request_start``) on every request; with follow,
        until the build ends."""
        name = route.name or ""
        if sim._api.log_phase(name, query.get("nowait") in ("true", "1"), sim._stopped) is None:
            self._reply(200, b"", content_type="text/plain")
            return
        buffer = sim._engine.runs[name].log
        follow = query.get("follow") in ("true", "1")
        faults = sim._injector.faults
        stamp, offset = log_request_start(buffer, query, faults)
        limit = offset + int(query["limitBytes"]) if "limitBytes" in query else None
        end = None if follow else buffer.size
        cut_at = None
        if faults.log_cut_bytes is not None:
            base = offset if faults.log_cut_counts_resent else max(offset, buffer.delivered)
            cut_at = base + faults.log_cut_bytes
        self._log_offset = offset
        self._start_stream("text/plain")
        try:
            self._stream_log(sim, buffer, offset, end, limit, cut_at, reset, stamp)
        finally:
            buffer.note_delivered(self._log_offset)

    def _stream_log(self, sim: ServedSimulator, buffer: LogBuffer, offset: int,
                    end: Optional[int], limit: Optional[int], cut_at: Optional[int],
                    reset: bool, stamp: bool = False) -> None:
        self._log_offset = offset
        line_start = True
        while True:
            want = LOG_CHUNK
            for bound in (limit, cut_at, end):
                if bound is not None:
                    want = min(want, bound - offset)
            data = buffer.read(offset, want) if want > 0 else b""
            if data:
                if stamp:
                    wire = buffer.stamp_lines(offset, data, line_start)
                    line_start = data.endswith(b"\n")
                self._chunk(wire if stamp else data)
                offset += len(data)
                self._log_offset = offset
                if reset or (cut_at is not None and offset >= cut_at):
                    # noted before the close: the client's next request may arrive before
                    # this thread's ``finally`` runs, and must see how far this one got
                    buffer.note_delivered(offset)
                    self._abort(rst=reset)
                    return
                continue
            if want <= 0 or end is not None or (buffer.closed and offset >= buffer.size):
                break
            buffer.wait_beyond(offset, 5.0, sim._stopped)
            if sim._stopped.is_set():
                self._abort(rst=False)
                return
        self._end_stream()


class Server(ThreadingHTTPServer):
    """Threaded server that knows its open connections, so ``stop()`` can end them all."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], sim: ServedSimulator):
        self.sim = sim
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self._connections: set[socket.socket] = set()
        self._conn_lock = threading.Lock()
        super().__init__(address, Handler)

    def track(self, conn: socket.socket, add: bool) -> None:
        with self._conn_lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def close_connections(self) -> None:
        with self._conn_lock:
            conns = list(self._connections)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def open_connections(self) -> int:
        with self._conn_lock:
            return len(self._connections)
