"""HTTP plumbing of the OpenShift client: one ``requests.Session`` with urllib3 ``Retry`` for
idempotent calls, explicit retries for creates (a retried POST can meet its own first attempt),
typed errors, a second "urgent" session for cancels that must finish within about a second.
Tokens travel in an auth object whose repr never shows them.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Callable, Optional, Union
from urllib.parse import urlencode, urljoin

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from koji_containerbuild.openshift.errors import (
    TRANSIENT_STATUSES,
    AlreadyExists,
    OpenShiftError,
    describe_request,
    error_from_response,
    is_transient,
    transport_error,
)

log = logging.getLogger(__name__)

IDEMPOTENT_METHODS = frozenset({'GET', 'HEAD', 'PUT', 'DELETE'})
BACKOFF_MAX = 60.0
RETRY_AFTER_MAX = 120


class _BearerAuth(requests.auth.AuthBase):
    """Adds the bearer token to each request; its repr never shows the token."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers['Authorization'] = f'Bearer {self._token}'
        return request

    def __repr__(self) -> str:
        return '<BearerAuth token=***>'


class _Retry(Retry):
    """urllib3 Retry whose waits go through an injected sleep (tests run fast)."""

    sleep_fn: Callable[[float], None] = staticmethod(time.sleep)

    def new(self, **kw: Any) -> _Retry:
        retry = super().new(**kw)
        retry.sleep_fn = self.sleep_fn
        return retry

    def sleep_for_retry(self, response: Any) -> bool:
        retry_after = self.get_retry_after(response)
        if retry_after:
            self.sleep_fn(retry_after)
            return True
        return False

    def _sleep_backoff(self) -> None:
        backoff = self.get_backoff_time()
        if backoff > 0:
            self.sleep_fn(backoff)


def _make_retry(retries: int, backoff_factor: float, sleep: Callable[[float], None],
                respect_retry_after: bool = True) -> _Retry:
    retry = _Retry(total=retries, connect=retries, read=retries, status=retries,
                   allowed_methods=IDEMPOTENT_METHODS, status_forcelist=TRANSIENT_STATUSES,
                   backoff_factor=backoff_factor, backoff_max=BACKOFF_MAX,
                   respect_retry_after_header=respect_retry_after,
                   retry_after_max=RETRY_AFTER_MAX, raise_on_status=False)
    retry.sleep_fn = sleep
    return retry


class ApiSession:
    """Requests to one OpenShift API server for one namespace. Safe to share between threads."""

    def __init__(self, base_url: str, namespace: str = 'default', *,
                 token: Optional[str] = None, verify: Union[bool, str] = True,
                 cert: Optional[tuple[str, str]] = None, connect_timeout: float = 30.0,
                 read_timeout: float = 600.0, retries: int = 8, backoff_factor: float = 1.0,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic,
                 session: Optional[requests.Session] = None) -> None:
        self.base_url = base_url
        self.namespace = namespace
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.retries = retries
        self.backoff_factor = backoff_factor
        self.sleep = sleep
        self.clock = clock
        self._verify = verify
        self._cert = cert
        self._auth = _BearerAuth(token) if token else None
        self._session = self._configure(session or requests.Session(),
                                        _make_retry(retries, backoff_factor, sleep))
        # Cancel must finish within about a second: one immediate retry, no Retry-After waits.
        self._urgent_session = self._configure(
            requests.Session(), _make_retry(1, 0.0, sleep, respect_retry_after=False))

    def _configure(self, session: requests.Session, retry: Retry) -> requests.Session:
        adapter = HTTPAdapter(max_retries=retry, pool_connections=4, pool_maxsize=32)
        session.mount('https://', adapter)
        session.mount('http://', adapter)
        session.auth = self._auth
        session.verify = self._verify
        session.cert = self._cert
        return session

    def __repr__(self) -> str:
        auth = 'token' if self._auth else 'none'
        return (f'ApiSession(base_url={self.base_url!r}, namespace={self.namespace!r}, '
                f'auth={auth}, verify={self._verify!r})')

    def close(self) -> None:
        self._session.close()
        self._urgent_session.close()

    def __enter__(self) -> ApiSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def backoff(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (1, 2, ...), exponential and capped."""
        return min(BACKOFF_MAX, self.backoff_factor * (2 ** max(0, attempt - 1)))

    def pause(self, seconds: float, cancel: Any = None) -> bool:
        """Wait ``seconds``; with a cancel event, wake as soon as it is set. True if cancelled."""
        if cancel is not None and self.sleep is time.sleep:
            return bool(cancel.wait(seconds))
        if seconds > 0:
            self.sleep(seconds)
        return bool(cancel is not None and cancel.is_set())

    def _send(self, method: str, path: str, *, params: Optional[dict] = None,
              body: Any = None, stream: bool = False, urgent: bool = False,
              timeout: Optional[tuple[float, float]] = None) -> requests.Response:
        """One exchange up to the answer's headers (urllib3 retries inside); raises the typed
        error for a non-2xx answer. The body is left unread: the caller reads or streams it."""
        url = urljoin(self.base_url, path)
        desc = describe_request(method, url + ('?' + urlencode(params) if params else ''))
        headers = {}
        data = None
        if body is not None:
            data = json.dumps(body)
            headers['Content-Type'] = 'application/json'
        if stream:
            headers['Connection'] = 'close'  # as osbs-client: a stream owns its connection
        session = self._urgent_session if urgent else self._session
        try:
            # verify/cert per request: requests lets REQUESTS_CA_BUNDLE override session values
            response = session.request(
                method, url, params=params, data=data, headers=headers, stream=True,
                verify=self._verify, cert=self._cert,
                timeout=timeout or (self.connect_timeout, self.read_timeout))
        except requests.RequestException as exc:
            raise transport_error(exc, desc) from exc
        log.debug('%s: %s %s', desc, response.status_code, response.reason or '')
        if response.status_code in (200, 201):
            return response
        try:
            content = response.content
        except requests.RequestException:
            content = b''
        finally:
            response.close()
        retry_after = response.headers.get('Retry-After')
        raise error_from_response(
            response.status_code, content, desc, http_reason=response.reason or '',
            retry_after=float(retry_after) if retry_after and retry_after.isdigit() else None)

    def _call(self, method: str, path: str, *, params: Optional[dict] = None,
              body: Any = None, urgent: bool = False,
              timeout: Optional[tuple[float, float]] = None) -> Any:
        """A request answered with JSON. urllib3 retries only until the headers arrive; an
        idempotent request whose body is cut afterwards is retried here."""
        attempt = 0
        while True:
            response = self._send(method, path, params=params, body=body, urgent=urgent,
                                  timeout=timeout)
            desc = describe_request(method, response.url)
            try:
                content = response.content
            except requests.RequestException as exc:
                attempt += 1
                error = transport_error(exc, desc, 'answer cut short')
                if method not in IDEMPOTENT_METHODS or attempt > self.retries or urgent:
                    raise error from exc
                log.info('%s; retrying (%d/%d)', error, attempt, self.retries)
                self.sleep(self.backoff(attempt))
                continue
            finally:
                response.close()  # back to the pool when fully read
            try:
                return json.loads(content.decode('utf-8'))
            except (ValueError, UnicodeDecodeError) as exc:
                raise OpenShiftError(f'answer is not JSON: {exc}', request=desc,
                                     status_code=response.status_code) from exc

    def _post(self, path: str, body: dict,
              before_retry: Optional[Callable[[], Optional[dict]]] = None) -> Any:
        """POST with explicit retries on transient failures (urllib3 does not retry POST).

        ``before_retry`` may find the result of an attempt whose answer was lost; its
        non-None return ends the loop. An AlreadyExists is raised with ``after_retry`` set
        when an earlier attempt may have created the object.
        """
        attempt = 0
        while True:
            try:
                return self._call('POST', path, body=body)
            except AlreadyExists as exc:
                exc.after_retry = attempt > 0
                raise
            except OpenShiftError as exc:
                attempt += 1
                if not is_transient(exc) or attempt > self.retries:
                    raise
                log.info('%s; retrying the create (%d/%d)', exc, attempt, self.retries)
                self.sleep(min(exc.retry_after or self.backoff(attempt), RETRY_AFTER_MAX))
                if before_retry is not None:
                    found = before_retry()
                    if found is not None:
                        return found
