"""A block of log lines handed over with the per-line prefix its producer would strip.

Stripping the timestamps of a followed log (``openshift/logresume``) and splitting its lines by
platform (``logs/demux``) each cost one regex pass per line, most of the builder's CPU per byte
of log. So the producer may hand over a block of complete lines unstripped, with the regex of
one line's prefix: a consumer that matches that prefix within its own pass does so and calls
``accept``, any other consumer calls ``stripped``. Exactly one of the two, once, before the
producer is fed again (it updates its bookkeeping then).
"""

from __future__ import annotations

from typing import Callable


class PrefixedLines:
    """Complete lines (``raw`` ends with a newline), each starting with a match of ``prefix``
    (regex source of one line's prefix and its separator: bounded quantifiers, no groups)
    unless the producer is wrong about a line; ``stripped()`` then still gives the right
    bytes, and a consumer's own pass must fail on such a line."""

    __slots__ = ("raw", "prefix", "settled", "_accept", "_strip")

    def __init__(self, raw: bytes, prefix: bytes, accept: Callable[[bytes, int], None],
                 strip: Callable[[bytes], bytes]) -> None:
        self.raw = raw
        self.prefix = prefix
        self.settled = False
        self._accept = accept
        self._strip = strip

    def __len__(self) -> int:
        return len(self.raw)

    def stripped(self) -> bytes:
        """The lines without their prefixes, as the producer strips them."""
        self._settle()
        return self._strip(self.raw)

    def accept(self, stripped_size: int) -> None:
        """The consumer matched every line's prefix and dropped it (``stripped_size`` bytes
        were left of the block)."""
        self._settle()
        self._accept(self.raw, stripped_size)

    def _settle(self) -> None:
        if self.settled:
            raise RuntimeError("a block of prefixed lines is stripped or accepted only once")
        self.settled = True
