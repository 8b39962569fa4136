#!/usr/bin/env bash
# A rotated and cut build log through the REAL hub (issue 13, following side): the shared
# harness (httpd + mod_wsgi + PostgreSQL hub, real kojid on Debian's Python) runs this
# checkout's plugins against the project's OpenShift simulator, which rotates the log every
# 1 MiB and cuts every log connection after 512 KiB of its own; once with a reader that keeps
# up, once with log requests answered 4 s late. bench/harness_rotation.py compares the task's
# files on the hub with what the simulator emitted less the gaps osbs-client.log reports.
# Not part of `make bench` (it needs root and the harness).
#
#   bench/harness_rotation.sh
#   LINES=5000 LATE="0" bench/harness_rotation.sh
set -euo pipefail
# shellcheck source=tools/harness_common.sh
. "$(dirname "$0")/../tools/harness_common.sh"
harness_lock "$@"
LINES=${LINES:-20000}
RATE=${RATE:-800}
LATE=${LATE:-"0 4"}                   # seconds the simulator waits before answering a log GET
WORK=$HARNESS_STATE/kcb-i13a
harness_builder_conf "$WORK"
harness_token "$WORK"
trap harness_stop_pids EXIT
harness_start_sim "$WORK" --scenario slow-log
harness_osbs_conf "$WORK"
harness_distgit hello f39
echo "== up.sh --restart: plugins of $CHECKOUT"
harness_up 3
echo "| run | task state | log connections | gaps reported | lines in gaps | hub logs vs emitted less gaps |"
for late in $LATE; do
    PYTHONPATH=$CHECKOUT "$PYTHON" "$CHECKOUT/bench/harness_rotation.py" \
        --sim "$SIM_URL" --token-file "$WORK/openshift.token" \
        --git "git://127.0.0.1/container/hello.git" --gitroot "$GITROOT" \
        --lines "$LINES" --rate "$RATE" --open-seconds "$late" | tee -a "$WORK/results.txt"
done
