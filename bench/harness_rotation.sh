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
CHECKOUT=$(cd "$(dirname "$0")/.." && pwd)
HARNESS=${HARNESS:-/work/shared/harness}
LOCK=${HARNESS_LOCK:-/tmp/koji-harness.lock}
export KOJI_MIRROR=${KOJI_MIRROR:-/work/.mirror/koji-project+koji/repo}
export HARNESS_STATE=${HARNESS_STATE:-/var/lib/koji-harness}
if [ "${_KCB_HARNESS_LOCKED:-}" != 1 ]; then
    # -o: the daemons up.sh starts must not inherit the lock
    exec env _KCB_HARNESS_LOCKED=1 flock -o "$LOCK" "$0" "$@"
fi
LINES=${LINES:-20000}
RATE=${RATE:-800}
LATE=${LATE:-"0 4"}                   # seconds the simulator waits before answering a log GET
WORK=$HARNESS_STATE/kcb-i13a
PYTHON=$HARNESS_STATE/venv/bin/python3
GITROOT=$HARNESS_STATE/git
mkdir -p "$WORK"
printf '[osbs]\nosbs_conf = %s\n\n[tasks]\npending_timeout = 300\n' "$WORK/osbs.conf" \
    > "$WORK/builder_containerbuild.conf"
export KOJI_CONTAINERBUILD_BUILDER_CONF=$WORK/builder_containerbuild.conf
[ -s "$WORK/openshift.token" ] || { head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n'; echo; } > "$WORK/openshift.token"
chmod 600 "$WORK/openshift.token"

PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done; true; }
trap cleanup EXIT

rm -rf "$WORK/openshift"
PYTHONPATH=$CHECKOUT "$PYTHON" -m koji_containerbuild.sandbox.openshift \
    --listen 127.0.0.1:0 --token-file "$WORK/openshift.token" --state-dir "$WORK/openshift" \
    --scenario slow-log >"$WORK/openshift.log" 2>&1 </dev/null &
PIDS+=($!)
for _ in $(seq 120); do [ -s "$WORK/openshift/url" ] && break; sleep 0.5; done
SIM_URL=$(cat "$WORK/openshift/url")
instance="openshift_url = $SIM_URL/
token_file = $WORK/openshift.token
build_from = imagestream:buildroot:latest
reactor_config_map = reactor-config-map
can_orchestrate = true"
printf '[general]\nbuild_json_dir = /usr/share/osbs/\n\n[default]\n%s\n\n[scratch]\n%s\n' \
    "$instance" "$instance" > "$WORK/osbs.conf"
if [ ! -d "$GITROOT/container/hello.git" ]; then
    PYTHONPATH=$CHECKOUT "$PYTHON" -c 'import sys
from koji_containerbuild.sandbox.distgit import create_container_repo
create_container_repo(sys.argv[1], "hello", branch="f39")' "$GITROOT"
fi
echo "== up.sh --restart: plugins of $CHECKOUT"
EXTRA_PYTHONPATH=$CHECKOUT EXTRA_PIP_PACKAGES="dockerfile-parse" \
HUB_PLUGIN_DIR=$CHECKOUT/hub_plugin HUB_PLUGINS=hub_containerbuild \
BUILDER_PLUGIN_DIR=$CHECKOUT/builder_plugin BUILDER_PLUGINS=builder_containerbuild \
CLI_PLUGIN_DIR=$CHECKOUT/cli_plugin "$HARNESS/up.sh" --restart | tail -n 3
echo "| run | task state | log connections | gaps reported | lines in gaps | hub logs vs emitted less gaps |"
for late in $LATE; do
    PYTHONPATH=$CHECKOUT "$PYTHON" "$CHECKOUT/bench/harness_rotation.py" \
        --sim "$SIM_URL" --token-file "$WORK/openshift.token" \
        --git "git://127.0.0.1/container/hello.git" --gitroot "$GITROOT" \
        --lines "$LINES" --rate "$RATE" --open-seconds "$late" | tee -a "$WORK/results.txt"
done
