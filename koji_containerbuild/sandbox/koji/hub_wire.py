"""Koji's XML-RPC wire protocol for the sandbox hub (kojihub's ``kojixmlrpc`` in small).

POST ``/kojihub``: an XML-RPC call (``koji.xmlrpcplus`` marshalling, ``__starstar`` kwargs
decoded with ``koji.decode_args``, argument mismatches as ``ParameterError``), ``multiCall`` /
``system.multicall`` with per-call faults, or an ``application/octet-stream`` ``rawUpload``
chunk. Faults keep koji's codes so the client's ``convertFault`` restores the exception class.
Every call (multicall members included) is recorded for tests, with secrets masked.
"""

from __future__ import annotations

import inspect
import logging
import os
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Callable, Optional, Protocol
from urllib.parse import parse_qs, urlsplit

import koji
import koji.xmlrpcplus
from koji.context import context

from .hub_session import LOCK_EXEMPT, RequestSession

if TYPE_CHECKING:
    from .hub_files import FileExports
    from .hub_session import SessionManager
    from .hub_store import HubStore

log = logging.getLogger("koji_containerbuild.sandbox.koji.hub")

UNKNOWN_FAULT_CODE = 1000  # koji.GenericError's code; the real hub uses 1 for non-koji errors
MULTICALL = ("multiCall", "system.multicall")


def to_fault(exc: BaseException) -> koji.xmlrpcplus.Fault:
    """An exception as the hub reports it: koji errors keep their class (faultCode)."""
    if isinstance(exc, koji.xmlrpcplus.Fault):
        return exc
    if isinstance(exc, koji.GenericError):
        return koji.xmlrpcplus.Fault(exc.faultCode, str(exc))
    log.exception("sandbox hub: unexpected error")
    return koji.xmlrpcplus.Fault(UNKNOWN_FAULT_CODE, f"{type(exc).__name__}: {exc}")


class ServedHub(Protocol):
    """What the dispatcher uses of the hub it serves (``hub.SandboxHub``, which imports this
    module: the dispatcher names only this much of it)."""

    store: HubStore
    state_dir: str
    sessions: SessionManager
    files: FileExports
    plugin_error: Optional[str]

    def notify_created(self, task_id: int) -> None: ...
    def tasks(self, task_id: Optional[int] = None) -> Any: ...


class Dispatcher:
    """Method registry, call recording and request handling for one hub."""

    def __init__(self, hub: ServedHub):
        self.hub = hub
        self.registry: dict[str, Callable] = {
            "_listapi": self.list_api,
            "system.listMethods": self.list_methods,
            "system.methodSignature": lambda method: "signatures not supported",
            "system.methodHelp": self.method_help}
        self.calls: list[dict] = []
        self.calls_lock = threading.Lock()

    def register(self, exports: Any, prefix: str = "", names: Any = None) -> None:
        for name in names or dir(exports):
            if not name.startswith("_") and name != "handle_upload" and \
                    callable(getattr(exports, name)):
                self.registry[prefix + name] = getattr(exports, name)

    def list_methods(self) -> list[str]:
        return sorted(set(self.registry) | set(MULTICALL) | {"rawUpload"})

    def list_api(self) -> list[dict]:
        """kojixmlrpc's ``_listapi``: every method this hub answers, with its signature."""
        funcs = []
        for name, func in self.registry.items():
            sig = inspect.signature(func)
            args = [[p.name, p.default] if p.default is not p.empty else p.name
                    for p in sig.parameters.values()]
            spec = inspect.getfullargspec(func)
            spec_args = [a for a in spec.args if a != "self"]
            funcs.append({"name": name, "doc": func.__doc__,
                          "argspec": [spec_args, spec.varargs, spec.varkw, spec.defaults,
                                      spec.kwonlyargs, spec.kwonlydefaults, {}],
                          "argdesc": f"({', '.join(str(p) for p in sig.parameters.values())})",
                          "args": args})
        return funcs

    def method_help(self, method: str) -> str:
        func = self.registry.get(method)
        if func is None:
            return ""
        return f"{method}{inspect.signature(func)}" + (
            f"\ndescription: {func.__doc__}" if func.__doc__ else "")

    def record(self, method: str, args: Any, kwargs: dict, multicall: bool = False) -> None:
        args = list(args)
        if method == "login" and len(args) > 1:
            args[1] = "********"
        if method == "uploadFile" and len(args) > 5:
            args[5] = f"<{len(args[5])} base64 chars>"
        user = context.session.user_data.get("name") if hasattr(context, "session") else None
        with self.calls_lock:
            self.calls.append({"method": method, "args": args, "kwargs": dict(kwargs),
                               "user": user, "multicall": multicall})

    def dispatch(self, method: str, params: Any, multicall: bool = False) -> Any:
        """Run one call as kojixmlrpc's ``_dispatch`` does."""
        args, kwargs = koji.decode_args(*params)
        self.record(method, args, kwargs, multicall)
        context.method = method
        if self.hub.plugin_error is not None:
            raise koji.ServerOffline("configuration error")
        session = context.session
        if session.lockerror and method not in LOCK_EXEMPT:
            raise koji.AuthLockError(session.lockerror)
        if method in MULTICALL and not multicall:
            return self._multicall(*args, **kwargs)
        func = self.registry.get(method)
        if func is None:
            raise koji.GenericError(f"Invalid method: {method}")
        try:
            inspect.signature(func).bind(*args, **kwargs)
        except TypeError as exc:
            raise koji.ParameterError(str(exc)) from None
        return func(*args, **kwargs)

    def _multicall(self, calls: list) -> list:
        results: list = []
        for call in calls:
            try:
                results.append([self.dispatch(call["methodName"], call["params"], True)])
            except Exception as exc:  # noqa: BLE001 - every error becomes this call's fault
                fault = to_fault(exc)
                results.append({"faultCode": fault.faultCode, "faultString": fault.faultString})
        return results

    def handle_post(self, query: str, headers: Any, body: bytes) -> bytes:
        """One POST to /kojihub: an XML-RPC call, or a rawUpload chunk (octet-stream)."""
        context._threadclear()
        context.session = RequestSession(self.hub.store)
        context.created_tasks = created = []
        upload = headers.get("Content-Type") == "application/octet-stream"
        self.hub.throttle(len(body) if upload or b"<methodName>uploadFile<" in body[:200]
                          else 0)
        try:
            params, method = ((), "rawUpload") if upload else koji.xmlrpcplus.loads(body)
            context.session = self.hub.sessions.resolve(headers, query, method)
            if upload:
                args = parse_qs(query)
                self.record("rawUpload", [args.get("filepath", [""])[0],
                                          args.get("filename", [""])[0]],
                            {"offset": int(args.get("offset", ["0"])[0]), "size": len(body)})
                if context.session.lockerror:
                    raise koji.AuthLockError(context.session.lockerror)
                result = self.hub.files.handle_upload(query, body)
            else:
                result = self.dispatch(method, params)
            response = koji.xmlrpcplus.dumps((result,), methodresponse=1, allow_none=1)
        except Exception as exc:  # noqa: BLE001 - every error becomes the call's fault
            response = koji.xmlrpcplus.dumps(to_fault(exc), methodresponse=1, allow_none=1)
        finally:
            context._threadclear()
        for task_id in created:
            self.hub.notify_created(task_id)
        return response.encode("utf-8")

    def handle_get(self, path: str, query: str) -> tuple[int, str, bytes]:
        """Task outputs under /kojifiles/work and tiny text pages under /koji."""
        hub = self.hub
        if path.startswith("/kojifiles/work/"):
            rel = os.path.normpath(path[len("/kojifiles/"):])
            full = os.path.join(hub.state_dir, rel)
            if rel.startswith("work/") and os.path.isfile(full):
                with open(full, "rb") as f:
                    return 200, "application/octet-stream", f.read()
        args = {k: v[0] for k, v in parse_qs(query).items()}
        info = None
        if path == "/koji/taskinfo" and args.get("taskID", "").isdigit():
            info = hub.tasks(int(args["taskID"]))
        if path == "/koji/buildinfo" and args.get("buildID", "").isdigit():
            with hub.store.read():
                build = hub.store.get_build(int(args["buildID"]))
                info = hub.store.build_info(build) if build else None
        if info:
            text = "".join(f"{key}: {info[key]!r}\n" for key in sorted(info))
            return 200, "text/plain; charset=utf-8", text.encode()
        return 404, "text/plain", b"Not found\n"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body leave at once: no 40 ms delayed-ACK stall
    wbufsize = 1 << 16
    server_version = "KojiSandboxHub/" + koji.__version__

    def _send(self, status: int, ctype: str, body: bytes, extra: tuple = ()) -> None:
        self.send_response(status)
        for key, value in (("Content-Type", ctype), ("Content-Length", str(len(body)))) + extra:
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        url = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if url.path.rstrip("/") not in ("/kojihub", "/kojihub/ssllogin"):
            self._send(404, "text/plain", b"Not found\n")
            return
        response = self.server.dispatcher.handle_post(url.query, self.headers, body)
        self._send(200, "text/xml", response, (("Koji-Version", koji.__version__),))

    def do_GET(self) -> None:  # noqa: N802
        url = urlsplit(self.path)
        if url.path.rstrip("/") == "/kojihub":
            self._send(405, "text/plain", b"Method Not Allowed\nThis is an XML-RPC server. "
                       b"Only POST requests are accepted.\n", (("Allow", "POST"),))
            return
        self._send(*self.server.dispatcher.handle_get(url.path, url.query))

    def log_message(self, fmt: str, *args: Any) -> None:
        log.debug("%s " + fmt, self.address_string(), *args)


class HubServer(ThreadingHTTPServer):
    """A threaded HTTP server whose handler reaches the hub's dispatcher.

    It remembers its open (keep-alive) connections so ``close_connections`` can end them when
    the hub stops: a client must not keep talking to a stopped hub's handler threads.
    """

    daemon_threads = True

    def __init__(self, listen: tuple[str, int], dispatcher: Dispatcher):
        super().__init__(listen, _Handler)
        self.dispatcher = dispatcher
        self._open: set = set()
        self._open_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._open_lock:
            requests = list(self._open)
        for request in requests:
            try:
                request.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed by the peer
