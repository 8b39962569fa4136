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
CHECKOUT=$(cd "$(dirname "$0")/.." && pwd)
HARNESS=${HARNESS:-/work/shared/harness}
LOCK=${HARNESS_LOCK:-/tmp/koji-harness.lock}
export KOJI_MIRROR=${KOJI_MIRROR:-/work/.mirror/koji-project+koji/repo}
export HARNESS_STATE=${HARNESS_STATE:-/var/lib/koji-harness}
if [ "${_KCB_HARNESS_LOCKED:-}" != 1 ]; then
    # -o: the daemons up.sh starts must not inherit the lock
    exec env _KCB_HARNESS_LOCKED=1 flock -o "$LOCK" "$0" "$@"
fi
LOG_MB=${LOG_MB:-200}
RATES=${RATES:-"0 8"}                 # MB/s of kojid's link to the hub; 0: direct
WORK=$HARNESS_STATE/kcb-i13
PYTHON=$HARNESS_STATE/venv/bin/python3
GITROOT=$HARNESS_STATE/git
mkdir -p "$WORK"
printf '[osbs]\nosbs_conf = %s\n\n[tasks]\npending_timeout = 300\nupload_chunk_size = %s\n' \
    "$WORK/osbs.conf" "${CHUNK:-1048576}" > "$WORK/builder_containerbuild.conf"
export KOJI_CONTAINERBUILD_BUILDER_CONF=$WORK/builder_containerbuild.conf
[ -s "$WORK/openshift.token" ] || { head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n'; echo; } > "$WORK/openshift.token"
chmod 600 "$WORK/openshift.token"

PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done; true; }
trap cleanup EXIT

rm -rf "$WORK/openshift"
PYTHONPATH=$CHECKOUT "$PYTHON" -m koji_containerbuild.sandbox.openshift \
    --listen 127.0.0.1:0 --token-file "$WORK/openshift.token" --state-dir "$WORK/openshift" \
    --scenario large-log --large-log-bytes "$((LOG_MB * 1000000))" --time-scale 0.001 \
    >"$WORK/openshift.log" 2>&1 </dev/null &
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

for rate in $RATES; do
    hub_url=https://127.0.0.1:8443/kojihub
    if [ "$rate" != 0 ]; then
        "$PYTHON" "$HARNESS/lib/throttle_proxy.py" --listen 127.0.0.1:8444 --to 127.0.0.1:8443 \
            --up-rate "$rate" >"$WORK/proxy.log" 2>&1 &
        PIDS+=($!)
        hub_url=https://127.0.0.1:8444/kojihub
    fi
    echo "== up.sh --restart: plugins of $CHECKOUT, kojid -> $hub_url"
    KOJID_HUB_URL=$hub_url EXTRA_PYTHONPATH=$CHECKOUT EXTRA_PIP_PACKAGES="dockerfile-parse" \
    HUB_PLUGIN_DIR=$CHECKOUT/hub_plugin HUB_PLUGINS=hub_containerbuild \
    BUILDER_PLUGIN_DIR=$CHECKOUT/builder_plugin BUILDER_PLUGINS=builder_containerbuild \
    CLI_PLUGIN_DIR=$CHECKOUT/cli_plugin "$HARNESS/up.sh" --restart | tail -n 3
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
KOJID_HUB_URL=https://127.0.0.1:8443/kojihub EXTRA_PYTHONPATH=$CHECKOUT \
EXTRA_PIP_PACKAGES="dockerfile-parse" HUB_PLUGIN_DIR=$CHECKOUT/hub_plugin \
HUB_PLUGINS=hub_containerbuild BUILDER_PLUGIN_DIR=$CHECKOUT/builder_plugin \
BUILDER_PLUGINS=builder_containerbuild CLI_PLUGIN_DIR=$CHECKOUT/cli_plugin \
"$HARNESS/up.sh" --restart | tail -n 1
