"""Keep koji's session finaliser from deadlocking a hub that runs in this process.

``koji.ClientSession.__del__`` logs out over HTTP. A session caught in a reference cycle (a
traceback is enough) is finalised by the cyclic GC in whichever thread happens to allocate at
that moment: possibly a thread of an in-process ``SandboxHub`` — its accept loop, or a handler
thread that the accept loop is still waiting on to start (``Thread.start``) — which then waits
for an answer only that same loop could serve. A real hub runs in other processes, so this is
the stand-in's problem alone: while a hub of this process serves an address, a session of that
address finalised without an explicit ``logout()`` skips the logout (the stand-in's session
record simply stays). Explicit logouts, and sessions of any other hub, are untouched.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Optional
from urllib.parse import urlsplit

import koji

_served: dict[str, int] = {}       # "host:port" -> in-process hubs serving it
_lock = threading.Lock()
_koji_finaliser: Optional[Callable[[Any], None]] = None


def _finalise(session: Any) -> None:
    """``ClientSession.__del__`` with the logout skipped for in-process hubs."""
    baseurl = session.__dict__.get("baseurl")   # __dict__: koji's __getattr__ makes RPC stubs
    if isinstance(baseurl, str) and urlsplit(baseurl).netloc in _served:
        return
    if _koji_finaliser is not None:
        _koji_finaliser(session)


def serve(address: str) -> None:
    """A hub of this process serves ``address`` ("host:port") from now on."""
    global _koji_finaliser
    with _lock:
        if _koji_finaliser is None:
            _koji_finaliser = getattr(koji.ClientSession, "__del__", lambda _session: None)
            koji.ClientSession.__del__ = _finalise
        _served[address] = _served.get(address, 0) + 1


def unserve(address: str) -> None:
    """That hub stopped serving ``address``."""
    with _lock:
        left = _served.get(address, 0) - 1
        if left > 0:
            _served[address] = left
        else:
            _served.pop(address, None)
