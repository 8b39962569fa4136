#!/usr/bin/env bash
# The 200 MB log on the REAL hub (issue 13, item 5): the shared harness (httpd + mod_wsgi +
# PostgreSQL hub, real kojid on Debian's Python) runs this checkout's plugins against the
# project's OpenShift simulator playing `large-log`; bench/harness_log.py measures the task
# and the upstream pipeline on the same log, and compares the task's files on the hub with
# what the simulator emitted. Not part of `make bench` (it needs root and the harness).
#
#   bench/harness_log.sh                 # 200 MB, kojid -> hub direct and through 8 MB/s
#   LOG_MB=50 RATES="0" bench/harness_log.sh
#   CHUNK=4194304 RATES=0 bench/harness_log.sh     # [tasks] upload_chunk_size of the builder
#   PROBE_CHUNKS=1 bench/harness_log.sh            # also: the hub's rawUpload rate per size
#
# Every use of the shared harness holds its lock and re-points it at this checkout.
set -euo pipefail
# shellcheck source=tools/harness_common.sh
. "$(dirname "$0")/../tools/harness_common.sh"
harness_lock "$@"
LOG_MB=${LOG_MB:-200}
RATES=${RATES:-"0 8"}                 # MB/s of kojid's link to the hub; 0: direct
WORK=$HARNESS_STATE/kcb-i13
harness_builder_conf "$WORK" "upload_chunk_size = ${CHUNK:-1048576}"
harness_token "$WORK"
trap harness_stop_pids EXIT
harness_start_sim "$WORK" \
    --scenario large-log --large-log-bytes "$((LOG_MB * 1000000))" --time-scale 0.001
harness_osbs_conf "$WORK"
harness_distgit hello f39

for rate in $RATES; do
    hub_url=https://127.0.0.1:8443/kojihub
    if [ "$rate" != 0 ]; then
        "$PYTHON" "$HARNESS/lib/throttle_proxy.py" --listen 127.0.0.1:8444 --to 127.0.0.1:8443 \
            --up-rate "$rate" >"$WORK/proxy.log" 2>&1 &
        HARNESS_PIDS+=("$!")
        hub_url=https://127.0.0.1:8444/kojihub
    fi
    echo "== up.sh --restart: plugins of $CHECKOUT, kojid -> $hub_url"
    KOJID_HUB_URL=$hub_url harness_up 3
    PYTHONPATH=$CHECKOUT:$CHECKOUT/bench "$PYTHON" "$CHECKOUT/bench/harness_log.py" \
        --sim "$SIM_URL" --token-file "$WORK/openshift.token" --hub "$hub_url" \
        --rate "$rate" --git "git://127.0.0.1/container/hello.git" --gitroot "$GITROOT" \
        | tee -a "$WORK/results.txt"
done
if [ -n "${PROBE_CHUNKS:-}" ]; then
    PYTHONPATH=$CHECKOUT:$CHECKOUT/bench "$PYTHON" "$CHECKOUT/bench/harness_chunks.py" \
        https://127.0.0.1:8443/kojihub | tee -a "$WORK/results.txt"
fi
# leave the harness up, kojid talking to the hub directly
KOJID_HUB_URL=https://127.0.0.1:8443/kojihub harness_up 1
