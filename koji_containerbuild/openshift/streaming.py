"""The bytes of a streamed OpenShift answer (a build log, a watch), as they arrive.

Why not requests' ``iter_content``/``iter_lines`` alone: they wrap urllib3's generators in
``for`` loops (requests' ``iter_lines``; urllib3 1.26's ``stream`` over ``read_chunked``), so
the inner generators are closed by their finalisers when the outer ones stop, and closing them
closes the connection. An exception raised there is "ignored": a SIGINT from kojid arriving
meanwhile in the task's main thread is lost, and the task never cancels its build. Here every
generator down to urllib3's ``read_chunked`` is delegated to with ``yield from``, so closing the
outermost one (callers do, by a call) closes them all by calls.
"""

from __future__ import annotations

import http.client
from collections.abc import Iterable, Iterator
from typing import Any, Callable, Optional

import requests
import urllib3

# What reading the body can raise beneath requests; made a requests.ConnectionError (cause
# kept, so errors.is_timeout still tells a read timeout), as iter_content would.
_READ_ERRORS = (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError)


def response_chunks(response: requests.Response, chunk_size: int) -> Iterator[bytes]:
    """Bytes as they arrive: a chunked answer per HTTP chunk (at most ``chunk_size``), others
    by ``read1`` (no waiting for a full ``chunk_size``). Close it when done."""
    raw = response.raw
    try:
        if getattr(raw, 'chunked', False) and raw.supports_chunked_reads():
            yield from raw.read_chunked(chunk_size, decode_content=True)
            return
        read1 = _read1(raw)
        if read1 is None:
            yield from response.iter_content(chunk_size)
            return
        while True:
            data = read1(chunk_size)
            if not data:
                return
            yield data
    except requests.RequestException:
        raise                        # iter_content's own, already typed (and an OSError)
    except _READ_ERRORS as exc:
        raise requests.ConnectionError(exc) from exc


def _read1(raw: Any) -> Optional[Callable[[int], bytes]]:
    """``read1`` of the answer: at most n bytes, without waiting for more than have arrived.

    urllib3 >= 2.3 has it. Older ones (1.26 on RHEL 9 and Debian 12, 2.0-2.2) only read until
    ``n`` bytes or the end, which would hold a log line back until 16 KiB more came; there the
    http.client response underneath is read directly, when urllib3 has nothing to decode
    (no Content-Encoding). An answer that ends before its Content-Length is a broken
    connection, as urllib3 >= 2.3 reports it too. None: no such read, use ``iter_content``.
    """
    if hasattr(raw, 'read1'):
        return raw.read1
    fp = getattr(raw, '_fp', None)
    encoding = (raw.headers.get('Content-Encoding') or 'identity').strip().lower()
    if fp is None or not hasattr(fp, 'read1') or encoding != 'identity':
        return None

    def read1(amount: int) -> bytes:
        data = fp.read1(amount)
        missing = getattr(fp, 'length', None)
        if not data and missing:
            raise http.client.IncompleteRead(b'', missing)
        return data
    return read1


def split_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Complete lines (each with its ``\\n``) from arbitrary chunks; a trailing partial line
    is yielded last, as is."""
    pending = bytearray()
    for chunk in chunks:
        pending += chunk
        start = 0
        while True:
            end = pending.find(b'\n', start)
            if end < 0:
                break
            yield bytes(pending[start:end + 1])
            start = end + 1
        del pending[:start]
    if pending:
        yield bytes(pending)
