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

# shellcheck source=tools/harness_common.sh
. "$(dirname "$0")/harness_common.sh"
harness_lock "$@"        # holds the harness lock, and re-points it at this checkout below

WORK=$HARNESS_STATE/kcb            # our files: osbs.conf, builder conf, simulator state
KOJI=$HARNESS_STATE/bin/koji
TARGET=kcb-candidate BUILD_TAG=kcb-build REPO=hello COMPONENT=hello-container BRANCH=f39
SCENARIO=${SCENARIO:-success}

say() { printf '== %s\n' "$*"; }

# 1. kojid's side: the builder plugin's conf, naming our twin of /etc/osbs.conf.
harness_builder_conf "$WORK"

# 2. The harness, pointed at this checkout (README "Pointing it at a plugin checkout"),
#    with Debian's stack installed first (harness_up).
say "up.sh --restart with the plugins of $CHECKOUT"
harness_up 12

"$PYTHON" - <<'EOF'
import importlib, importlib.metadata as md
mods = {"requests": "requests", "urllib3": "urllib3", "PyYAML": "yaml",
        "jsonschema": "jsonschema", "dockerfile-parse": "dockerfile_parse"}
print("== kojid's Python stack:", ", ".join(
    f"{dist} {md.version(dist)} ({importlib.import_module(mod).__file__.rsplit('/', 2)[0]})"
    for dist, mod in mods.items()))
EOF

# 4. The OpenShift simulator (a process of ours, stopped on exit), on the harness's Python.
harness_token "$WORK"
trap harness_stop_pids EXIT
say "starting the OpenShift simulator (scenario $SCENARIO), log $WORK/openshift.log"
harness_start_sim "$WORK" --scenario "$SCENARIO" --time-scale 0.2
say "simulator at $SIM_URL"
harness_osbs_conf "$WORK"      # the osbs.conf the builder reads per task

# 5. DistGit: container/hello in the harness git daemon (created once, reused after).
harness_distgit "$REPO" "$BRANCH"
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
