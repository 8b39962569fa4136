#!/usr/bin/env bash
# One real buildContainer task through a real Koji: the shared harness's hub (httpd + mod_wsgi +
# PostgreSQL) and kojid on Debian 12's own Python packages (requests, urllib3 1.26, PyYAML,
# jsonschema), with this checkout's three plugins, against the project's OpenShift simulator.
# Not used by the tests or CI; see docs/harness.md.
#
#   tools/harness_build.sh                      # a normal build of container/hello
#   tools/harness_build.sh --scratch            # extra arguments go to `koji container-build`
#   SCENARIO=plugin-failure tools/harness_build.sh   # another simulator scenario
#
# Exit status 0 only when the task is CLOSED. Run as root (the harness needs it).
set -euo pipefail

CHECKOUT=$(cd "$(dirname "$0")/.." && pwd)
HARNESS=${HARNESS:-/work/shared/harness}
LOCK=${HARNESS_LOCK:-/tmp/koji-harness.lock}
export KOJI_MIRROR=${KOJI_MIRROR:-/work/.mirror/koji-project+koji/repo}
export HARNESS_STATE=${HARNESS_STATE:-/var/lib/koji-harness}

# Every use of the one shared harness holds its lock, and re-points it at this checkout.
if [ "${_KCB_HARNESS_LOCKED:-}" != 1 ]; then
    # -o: the lock fd is not passed on, or the daemons up.sh starts would hold the lock for good
    exec env _KCB_HARNESS_LOCKED=1 flock -o "$LOCK" "$0" "$@"
fi

WORK=$HARNESS_STATE/kcb            # our files: osbs.conf, builder conf, simulator state
PYTHON=$HARNESS_STATE/venv/bin/python3
KOJI=$HARNESS_STATE/bin/koji
GITROOT=$HARNESS_STATE/git         # the harness git daemon's base path: git://127.0.0.1/...
TARGET=kcb-candidate BUILD_TAG=kcb-build REPO=hello COMPONENT=hello-container BRANCH=f39
SCENARIO=${SCENARIO:-success}

say() { printf '== %s\n' "$*"; }

# 1. Debian's stack: the harness venv sees dist-packages (--system-site-packages), so these are
#    what the plugins import. Only dockerfile-parse (not in Debian 12) comes from PyPI.
missing=()
for pkg in python3-requests python3-urllib3 python3-yaml python3-jsonschema python3-dateutil \
           python3-six python3-defusedxml; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    say "apt-get install ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

mkdir -p "$WORK"
# 2. kojid's side: the builder plugin's conf, naming our twin of /etc/osbs.conf. kojid gets the
#    builder conf through KOJI_CONTAINERBUILD_BUILDER_CONF in its environment (up.sh passes its
#    environment on), so nothing is written to /etc.
printf '[osbs]\nosbs_conf = %s\n\n[tasks]\npending_timeout = 300\n' "$WORK/osbs.conf" \
    > "$WORK/builder_containerbuild.conf"
export KOJI_CONTAINERBUILD_BUILDER_CONF=$WORK/builder_containerbuild.conf

# 3. The harness, pointed at this checkout (README "Pointing it at a plugin checkout").
say "up.sh --restart with the plugins of $CHECKOUT"
EXTRA_PYTHONPATH=$CHECKOUT EXTRA_PIP_PACKAGES="dockerfile-parse" \
HUB_PLUGIN_DIR=$CHECKOUT/hub_plugin HUB_PLUGINS=hub_containerbuild \
BUILDER_PLUGIN_DIR=$CHECKOUT/builder_plugin BUILDER_PLUGINS=builder_containerbuild \
CLI_PLUGIN_DIR=$CHECKOUT/cli_plugin "$HARNESS/up.sh" --restart | tail -n 12

"$PYTHON" - <<'EOF'
import importlib, importlib.metadata as md
mods = {"requests": "requests", "urllib3": "urllib3", "PyYAML": "yaml",
        "jsonschema": "jsonschema", "dockerfile-parse": "dockerfile_parse"}
print("== kojid's Python stack:", ", ".join(
    f"{dist} {md.version(dist)} ({importlib.import_module(mod).__file__.rsplit('/', 2)[0]})"
    for dist, mod in mods.items()))
EOF

# 4. The OpenShift simulator (a process of ours, stopped on exit), on the harness's Python.
rm -rf "$WORK/openshift"
[ -s "$WORK/openshift.token" ] || { head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n'; echo; } > "$WORK/openshift.token"
chmod 600 "$WORK/openshift.token"
say "starting the OpenShift simulator (scenario $SCENARIO), log $WORK/openshift.log"
PYTHONPATH=$CHECKOUT "$PYTHON" -m koji_containerbuild.sandbox.openshift \
    --listen 127.0.0.1:0 --token-file "$WORK/openshift.token" --state-dir "$WORK/openshift" \
    --scenario "$SCENARIO" --time-scale 0.2 \
    >"$WORK/openshift.log" 2>&1 </dev/null &
SIM_PID=$!
stop_sim() { kill "$SIM_PID" 2>/dev/null && wait "$SIM_PID" 2>/dev/null || true; }
trap stop_sim EXIT
for _ in $(seq 120); do
    [ -s "$WORK/openshift/url" ] && break
    kill -0 "$SIM_PID" 2>/dev/null || { cat "$WORK/openshift.log" >&2; exit 1; }
    sleep 0.5
done
SIM_URL=$(cat "$WORK/openshift/url")
say "simulator at $SIM_URL"

# The osbs.conf the builder reads per task: the simulator's URL and token.
instance="openshift_url = $SIM_URL/
token_file = $WORK/openshift.token
build_from = imagestream:buildroot:latest
reactor_config_map = reactor-config-map
can_orchestrate = true"
printf '[general]\nbuild_json_dir = /usr/share/osbs/\n\n[default]\n%s\n\n[scratch]\n%s\n' \
    "$instance" "$instance" > "$WORK/osbs.conf"

# 5. DistGit: container/hello in the harness git daemon (created once, reused after).
if [ ! -d "$GITROOT/container/$REPO.git" ]; then
    PYTHONPATH=$CHECKOUT "$PYTHON" -c 'import sys
from koji_containerbuild.sandbox.distgit import create_container_repo
create_container_repo(sys.argv[1], sys.argv[2], branch=sys.argv[3])' "$GITROOT" "$REPO" "$BRANCH"
fi
SHA=$(git --git-dir="$GITROOT/container/$REPO.git" rev-parse "$BRANCH")
SRC="git://127.0.0.1/container/$REPO.git#$SHA"

# 6. Koji objects: a build tag with the simulator's arch, a target, the component's package.
kadmin() { "$KOJI" -p harness "$@"; }
exists() { [ "$(kadmin call --json-output "$@" 2>/dev/null || echo null)" != null ]; }
exists getTag "$BUILD_TAG" || kadmin add-tag --arches x86_64 "$BUILD_TAG" >/dev/null
exists getTag "$TARGET" || kadmin add-tag "$TARGET" >/dev/null
exists getBuildTarget "$TARGET" || kadmin add-target "$TARGET" "$BUILD_TAG" "$TARGET" >/dev/null
kadmin list-pkgs --tag "$TARGET" --quiet 2>/dev/null | grep -q "^$COMPONENT " ||
    kadmin add-pkg --owner packager "$TARGET" "$COMPONENT" >/dev/null

# 7. The task, as a packager, through the real CLI with our CLI plugin.
say "koji -p harness-packager container-build $TARGET $SRC --git-branch $BRANCH $*"
out=$("$KOJI" -p harness-packager container-build "$TARGET" "$SRC" --git-branch "$BRANCH" \
      --nowait "$@" 2>&1) || { echo "$out" >&2; exit 1; }
echo "$out"
TASK=$(sed -n 's/^Created task: \([0-9]*\)$/\1/p' <<<"$out")
[ -n "$TASK" ] || exit 1
kadmin watch-task "$TASK" || true
STATE=$(kadmin call --json-output getTaskInfo "$TASK" | "$PYTHON" -c \
    'import json, sys, koji; print(koji.TASK_STATES[json.load(sys.stdin)["state"]])')
say "task $TASK: $STATE"
if [ "$STATE" = CLOSED ]; then
    kadmin call --json-output getTaskResult "$TASK"
else
    kadmin taskinfo -v "$TASK" | sed -n '/Result/,$p' || true
    grep -n "Traceback\|Error" "$HARNESS_STATE/log/kojid.log" | tail -n 5 || true
fi
kadmin call --json-output listTaskOutput "$TASK" 2>/dev/null | tr -d "\n " || true
echo
[ "$STATE" = CLOSED ]
