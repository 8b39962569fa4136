"""Typed errors of the OpenShift REST layer.

Callers decide by type (a missing build, a conflict, a dead API), and users read one line that
names the request and carries OpenShift's own ``Status`` message. Messages never contain
credentials: requests are described by method and path, with secret-looking query keys dropped.
Transport failures of requests/urllib3 are mapped here too (``transport_error``).
"""

from __future__ import annotations

import json
import socket
from typing import Optional
from urllib.parse import parse_qsl, urlsplit

import requests
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError, ReadTimeoutError

# Statuses worth a retry: the request did not take effect, or may succeed later.
TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})

_SECRET_QUERY_WORDS = ('token', 'password', 'secret', 'key')
_MAX_MESSAGE_CHARS = 500


def describe_request(method: str, url: str) -> str:
    """'GET /apis/.../builds?labelSelector=a=b': what a human needs to identify a request."""
    parts = urlsplit(url)
    query = [
        (key, value)
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
        if not any(word in key.lower() for word in _SECRET_QUERY_WORDS)
    ]
    text = parts.path or '/'
    if query:
        text += '?' + '&'.join(f'{key}={value}' for key, value in query)
    return f'{method.upper()} {text}'


def _one_line(text: str) -> str:
    flat = ' '.join(str(text).split())
    if len(flat) > _MAX_MESSAGE_CHARS:
        flat = flat[:_MAX_MESSAGE_CHARS] + '...'
    return flat


class OpenShiftError(Exception):
    """Base of every error the OpenShift layer raises.

    ``status_code`` is the HTTP status (None when no answer came), ``reason`` the ``Status``
    reason (``NotFound``, ``AlreadyExists``...), ``message`` the ``Status`` message or our own
    description, ``request`` the request as ``describe_request`` prints it.
    """

    def __init__(self, message: str, *, request: str = '', status_code: Optional[int] = None,
                 reason: Optional[str] = None, retry_after: Optional[float] = None) -> None:
        self.message = _one_line(message)
        self.request = request
        self.status_code = status_code
        self.reason = reason
        self.retry_after = retry_after
        super().__init__(self.message)

    def __str__(self) -> str:
        head = []
        if self.request:
            head.append(self.request)
        if self.status_code is not None:
            head.append(f'HTTP {self.status_code}' + (f' {self.reason}' if self.reason else ''))
        prefix = ': '.join(head)
        return f'{prefix}: {self.message}' if prefix else self.message


class NotFound(OpenShiftError):
    """404: the object does not exist (or is not visible in this namespace)."""


class Conflict(OpenShiftError):
    """409: the object changed since it was read (stale resourceVersion)."""


class AlreadyExists(Conflict):
    """409 with reason AlreadyExists: a create met an object of the same name.

    ``after_retry`` tells whether an earlier attempt of the same create may have reached the
    server, i.e. whether the existing object is probably our own.
    """

    after_retry: bool = False


class Unauthorized(OpenShiftError):
    """401: no token, or a token OpenShift does not accept."""


class Forbidden(OpenShiftError):
    """403: the identity lacks a permission (for example ``edit`` in the namespace)."""


class ServerError(OpenShiftError):
    """5xx after the retries ran out."""


class OpenShiftTimeout(OpenShiftError):
    """No answer in time: a request timeout, or a wait whose deadline passed."""


class WaitTimeout(OpenShiftTimeout):
    """A wait's own deadline passed; retrying makes no sense."""


class ConnectionFailed(OpenShiftError):
    """The API could not be reached or the connection broke, after the retries ran out."""


class Cancelled(OpenShiftError):
    """The caller's cancel event was set; the operation stopped without a result."""


_CLASS_BY_STATUS = {401: Unauthorized, 403: Forbidden, 404: NotFound, 409: Conflict}


def error_from_response(status_code: int, body: bytes, request: str, *,
                        http_reason: str = '', retry_after: Optional[float] = None
                        ) -> OpenShiftError:
    """The typed error for a non-2xx answer, with the message of its ``Status`` body if any."""
    message, reason = '', None
    try:
        status = json.loads(body.decode('utf-8')) if body else None
    except (ValueError, UnicodeDecodeError):
        status = None
    if isinstance(status, dict):
        message = str(status.get('message') or '')
        reason = status.get('reason') or None
    elif body:
        message = body[:_MAX_MESSAGE_CHARS].decode('utf-8', 'replace')
    if not message:
        message = http_reason or 'no details in the answer'
    if status_code == 409 and reason == 'AlreadyExists':
        cls: type[OpenShiftError] = AlreadyExists
    elif status_code >= 500:
        cls = ServerError
    else:
        cls = _CLASS_BY_STATUS.get(status_code, OpenShiftError)
    return cls(message, request=request, status_code=status_code, reason=reason,
               retry_after=retry_after)


def is_transient(exc: BaseException) -> bool:
    """True for failures a later attempt may not meet (5xx, 408/429, lost connections)."""
    if isinstance(exc, (WaitTimeout, Cancelled)):
        return False
    if isinstance(exc, (ConnectionFailed, OpenShiftTimeout, ServerError)):
        return True
    return isinstance(exc, OpenShiftError) and exc.status_code in TRANSIENT_STATUSES


_TIMEOUT_ERRORS = (TimeoutError, socket.timeout, ReadTimeoutError, ConnectTimeoutError)


def is_timeout(exc: BaseException) -> bool:
    """True when a requests exception means "no data in time" (however urllib3 wrapped it)."""
    if isinstance(exc, requests.Timeout):
        return True
    for arg in getattr(exc, 'args', ()):
        reason = getattr(arg, 'reason', arg)  # MaxRetryError keeps the cause in .reason
        for cause in (arg, reason):
            if isinstance(cause, _TIMEOUT_ERRORS) and not isinstance(cause, NewConnectionError):
                return True  # urllib3 makes "connection refused" a ConnectTimeoutError too
    return False


def transport_error(exc: BaseException, request: str,
                    context: Optional[str] = None) -> OpenShiftError:
    """The typed error for a requests exception: a timeout or a failed connection."""
    if is_timeout(exc):
        where = f' ({context})' if context else ''
        return OpenShiftTimeout(f'no answer in time{where}: {exc}', request=request)
    return ConnectionFailed(f'{context or "connection failed"}: {exc}', request=request)
