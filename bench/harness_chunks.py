"""How the real hub takes ``rawUpload`` chunks of different sizes (run by ``harness_log.sh``
with ``PROBE_CHUNKS=1``): 64 MiB uploaded per size as the packager, MB/s and calls/s."""

from __future__ import annotations

import os
import sys
import time

from harness_log import session


def main() -> None:
    hub = sys.argv[1]
    s = session(hub, "packager")
    data = os.urandom(4 << 20)
    total = 64 << 20
    for size in (65536, 1 << 20, 4 << 20):
        path = f"bench-probe/{int(time.time() * 1000)}"
        began = time.monotonic()
        for offset in range(0, total, size):
            s.rawUpload(data[:size], offset, path, "probe.log", overwrite=True)
        took = time.monotonic() - began
        print(f"| rawUpload {size >> 10} KiB chunks | {total / took / 1e6:.1f} MB/s | "
              f"{total // size / took:.0f} calls/s |", flush=True)


if __name__ == "__main__":
    main()
