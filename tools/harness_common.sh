# shellcheck shell=bash
# What every script that drives the one shared Koji harness does the same way, sourced by
# tools/harness_build.sh, bench/harness_log.sh and bench/harness_rotation.sh (see
# docs/harness.md, "What it does"). Source it right after `set -euo pipefail`; it sets
# CHECKOUT, HARNESS, LOCK, KOJI_MIRROR, HARNESS_STATE, PYTHON and GITROOT and defines the
# small functions below; it runs nothing by itself. Each script calls harness_lock first.

# The checkout is the parent of the folder of the script that sources this file (tools/, bench/).
CHECKOUT=$(cd "$(dirname "$0")/.." && pwd)
HARNESS=${HARNESS:-/work/shared/harness}
LOCK=${HARNESS_LOCK:-/tmp/koji-harness.lock}
export KOJI_MIRROR=${KOJI_MIRROR:-/work/.mirror/koji-project+koji/repo}
export HARNESS_STATE=${HARNESS_STATE:-/var/lib/koji-harness}
PYTHON=$HARNESS_STATE/venv/bin/python3
GITROOT=$HARNESS_STATE/git         # the harness git daemon's base path: git://127.0.0.1/...
HARNESS_PIDS=()                    # our own processes, stopped by harness_stop_pids

# harness_lock "$@": every use of the one shared harness holds its lock. Re-executes the
# calling script under `flock -o` once; -o: the lock fd is not passed on, or the daemons
# up.sh starts would hold the lock for good.
harness_lock() {
    if [ "${_KCB_HARNESS_LOCKED:-}" != 1 ]; then
        exec env _KCB_HARNESS_LOCKED=1 flock -o "$LOCK" "$0" "$@"
    fi
}

# harness_builder_conf WORK [EXTRA_TASKS_LINE]: the builder plugin's conf in WORK, naming
# WORK/osbs.conf. kojid gets it through KOJI_CONTAINERBUILD_BUILDER_CONF in its environment
# (up.sh passes its environment on), so nothing is written to /etc.
harness_builder_conf() {
    local work=$1 extra=${2:-}
    mkdir -p "$work"
    printf '[osbs]\nosbs_conf = %s\n\n[tasks]\npending_timeout = 300\n' "$work/osbs.conf" \
        > "$work/builder_containerbuild.conf"
    [ -z "$extra" ] || printf '%s\n' "$extra" >> "$work/builder_containerbuild.conf"
    export KOJI_CONTAINERBUILD_BUILDER_CONF=$work/builder_containerbuild.conf
}

# harness_token WORK: the simulator's token in WORK/openshift.token (made once, mode 600).
harness_token() {
    local work=$1
    [ -s "$work/openshift.token" ] ||
        { head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n'; echo; } > "$work/openshift.token"
    chmod 600 "$work/openshift.token"
}

# harness_start_sim WORK SIMULATOR_ARGS...: the OpenShift simulator on the harness's Python
# (set up by up.sh first on a fresh harness) on a free loopback port, fresh state in WORK/openshift, log in WORK/openshift.log; its pid
# joins HARNESS_PIDS. Waits up to 60 s for its URL and sets SIM_URL; if it dies first, prints
# its log and exits 1.
harness_start_sim() {
    local work=$1 pid
    shift
    # a fresh harness: up.sh installs what the simulator imports (dockerfile-parse) first
    "$PYTHON" -c 'import dockerfile_parse' 2>/dev/null || harness_up 3
    rm -rf "$work/openshift"
    PYTHONPATH=$CHECKOUT "$PYTHON" -m koji_containerbuild.sandbox.openshift \
        --listen 127.0.0.1:0 --token-file "$work/openshift.token" --state-dir "$work/openshift" \
        "$@" >"$work/openshift.log" 2>&1 </dev/null &
    pid=$!
    HARNESS_PIDS+=("$pid")
    for _ in $(seq 120); do
        [ -s "$work/openshift/url" ] && break
        kill -0 "$pid" 2>/dev/null || { cat "$work/openshift.log" >&2; exit 1; }
        sleep 0.5
    done
    SIM_URL=$(cat "$work/openshift/url")
}

# harness_stop_pids: stops what harness_start_sim (or the script) put in HARNESS_PIDS; for
# `trap harness_stop_pids EXIT`.
harness_stop_pids() {
    local pid
    for pid in "${HARNESS_PIDS[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
    true
}

# harness_osbs_conf WORK: the osbs.conf the builder reads per task, WORK/osbs.conf:
# [default] and [scratch] with the simulator's URL (SIM_URL) and token.
harness_osbs_conf() {
    local work=$1 instance
    instance="openshift_url = $SIM_URL/
token_file = $work/openshift.token
build_from = imagestream:buildroot:latest
reactor_config_map = reactor-config-map
can_orchestrate = true"
    printf '[general]\nbuild_json_dir = /usr/share/osbs/\n\n[default]\n%s\n\n[scratch]\n%s\n' \
        "$instance" "$instance" > "$work/osbs.conf"
}

# harness_distgit REPO BRANCH: container/REPO.git in the harness git daemon (created once,
# reused after).
harness_distgit() {
    local repo=$1 branch=$2
    if [ ! -d "$GITROOT/container/$repo.git" ]; then
        PYTHONPATH=$CHECKOUT "$PYTHON" -c 'import sys
from koji_containerbuild.sandbox.distgit import create_container_repo
create_container_repo(sys.argv[1], sys.argv[2], branch=sys.argv[3])' "$GITROOT" "$repo" "$branch"
    fi
}

# harness_debian_stack: what the plugins import, from Debian 12 (the harness venv sees
# dist-packages through --system-site-packages, as a real Koji host would); only
# dockerfile-parse, not in Debian 12, comes from PyPI (harness_up's EXTRA_PIP_PACKAGES).
harness_debian_stack() {
    local pkg missing=()
    for pkg in python3-requests python3-urllib3 python3-yaml python3-jsonschema \
               python3-dateutil python3-six python3-defusedxml; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "== apt-get install ${missing[*]}"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "${missing[@]}" >/dev/null
    fi
}

# harness_up LINES: `up.sh --restart` pointed at this checkout (the harness README, "Pointing
# it at a plugin checkout"), showing the last LINES lines of its output. Variables such as
# KOJID_HUB_URL set before the call reach up.sh.
harness_up() {
    harness_debian_stack
    EXTRA_PYTHONPATH=$CHECKOUT EXTRA_PIP_PACKAGES="dockerfile-parse" \
    HUB_PLUGIN_DIR=$CHECKOUT/hub_plugin HUB_PLUGINS=hub_containerbuild \
    BUILDER_PLUGIN_DIR=$CHECKOUT/builder_plugin BUILDER_PLUGINS=builder_containerbuild \
    CLI_PLUGIN_DIR=$CHECKOUT/cli_plugin "$HARNESS/up.sh" --restart | tail -n "$1"
}
