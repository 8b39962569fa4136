"""Reading finished builds: captured OpenShift 3.9.41 answers plus hand-made odd JSON."""

import copy
import json

import pytest

from koji_containerbuild.openshift import result
from koji_containerbuild.openshift.result import BuildResult, diagnose_failure, diagnose_pending
from tests.fixtures import OPENSHIFT_FIXTURES

FIXTURES = OPENSHIFT_FIXTURES


def fixture(name: str):
    return json.loads((FIXTURES / name).read_text())


def annotated(build: dict, **annotations) -> dict:
    build = copy.deepcopy(build)
    build["metadata"].setdefault("annotations", {}).update(annotations)
    return build


REPOSITORIES = json.dumps({
    "primary": ["registry.example.com/rh-osbs/foo:1.0-1", "registry.example.com/rh-osbs/foo:1.0"],
    "unique": ["registry.example.com/rh-osbs/foo:rhel-8-candidate-78723-20210609101010"],
    "floating": ["registry.example.com/rh-osbs/foo:latest", "registry.example.com/rh-osbs/foo:1.0"],
})


# --------------------------------------------------------------------------- captured builds


def test_captured_scratch_build_reads_as_succeeded_without_koji_build():
    res = BuildResult.from_build(fixture("build_test-build-123.json"),
                                 fixture("pods.json")["items"])
    assert res.phase == result.SUCCEEDED and res.finished
    assert res.openshift_phase == "Complete"
    assert res.name == "test-build-123" and res.namespace == "osbs-stage"
    assert res.koji_build_id is None                       # scratch: no koji-build-id label
    assert res.repositories == []                           # the capture has no annotations
    assert res.self_link == \
        "/apis/build.openshift.io/v1/namespaces/osbs-stage/builds/scratch-38385-20191011152344"
    assert res.path == "/apis/build.openshift.io/v1/namespaces/osbs-stage/builds/test-build-123"
    assert res.node == "example.com"


def test_captured_orchestrator_build_with_atomic_reactor_results():
    build = annotated(fixture("build_test-orchestrator-build-123.json"),
                      repositories=REPOSITORIES,
                      digests=json.dumps([{"registry": "r", "repository": "rh-osbs/foo",
                                           "tag": "1.0", "digest": "sha256:1", "version": "v2"},
                                          "junk"]),
                      koji_task_annotations_whitelist='["remote_sources", "help_file", "absent"]',
                      remote_sources='[{"name": null, "url": "https://cachito/1"}]',
                      help_file="null")
    build["metadata"]["labels"]["koji-build-id"] = "1719"
    res = BuildResult.from_build(build)
    assert res.repositories == [
        "registry.example.com/rh-osbs/foo:1.0-1", "registry.example.com/rh-osbs/foo:1.0",
        "registry.example.com/rh-osbs/foo:rhel-8-candidate-78723-20210609101010",
        "registry.example.com/rh-osbs/foo:latest"]
    assert res.koji_build_id == "1719"
    assert res.koji_task_annotations == {
        "remote_sources": '[{"name": null, "url": "https://cachito/1"}]', "help_file": "null"}
    assert res.digests == [{"registry": "r", "repository": "rh-osbs/foo", "tag": "1.0",
                            "digest": "sha256:1", "version": "v2"}]
    assert res.node is None                                  # no pods given
    assert res.error_message() is None


@pytest.mark.parametrize(("name", "phase"), [
    ("build_test-build-cancel-123_get.json", result.RUNNING),
    ("build_test-build-cancel-123_put.json", result.CANCELLED),
])
def test_captured_cancel_get_and_put(name, phase):
    assert BuildResult.from_build(fixture(name)).phase == phase


def test_captured_watch_event_object_reads_like_a_build():
    event = json.loads((FIXTURES / "watch_build_test-build-123.json").read_text())
    assert BuildResult.from_build(event["object"]).name == "test-build-123"


@pytest.mark.parametrize(("phase", "expected"), [
    ("New", result.PENDING), ("Pending", result.PENDING), ("Running", result.RUNNING),
    ("Complete", result.SUCCEEDED), ("Failed", result.FAILED), ("Error", result.FAILED),
    ("Cancelled", result.CANCELLED), ("cancelled", result.CANCELLED), ("Weird", result.PENDING),
    (None, result.PENDING), (7, result.PENDING),
])
def test_phase_mapping(phase, expected):
    assert result.build_phase({"status": {"phase": phase}}) == expected


# --------------------------------------------------------------------------- error messages


def failed_build(**annotations) -> dict:
    build = annotated(fixture("build_test-orchestrator-build-123.json"), **annotations)
    build["status"]["phase"] = "Failed"
    return build


def test_error_message_names_the_first_failing_plugin_on_one_line():
    metadata = {"errors": {"orchestrate_build": "{\"x86_64\": {\"pod\": \"OOMKilled\"}}",
                           "koji_import": "second"},
                "timestamps": {}, "durations": {}}
    res = BuildResult.from_build(failed_build(**{"plugins-metadata": json.dumps(metadata)}))
    assert res.phase == result.FAILED
    assert res.error_message() == \
        'Error in plugin orchestrate_build: {"x86_64": {"pod": "OOMKilled"}}'


def test_error_message_multi_line_plugin_error_is_joined():
    metadata = {"errors": {"check_base_image": "Traceback:\n  line 1\n\n  boom"}}
    res = BuildResult.from_build(failed_build(**{"plugins-metadata": json.dumps(metadata)}))
    assert res.error_message() == "Error in plugin check_base_image: Traceback:; line 1; boom"


def test_error_message_plugin_without_text():
    metadata = {"errors": {"add_filesystem": ""}}
    res = BuildResult.from_build(failed_build(**{"plugins-metadata": json.dumps(metadata)}))
    assert res.error_message() == "Error in plugin add_filesystem"


def terminated_pod(**terminated) -> dict:
    pod = copy.deepcopy(fixture("pods.json")["items"][0])
    pod["status"]["phase"] = "Failed"
    pod["status"]["containerStatuses"][0]["state"] = {"terminated": terminated}
    return pod


@pytest.mark.parametrize("metadata", [None, "not json", '{"errors": {}}', '{"errors": []}', "[]"])
def test_error_message_falls_back_to_the_pod(metadata):
    annotations = {} if metadata is None else {"plugins-metadata": metadata}
    pod = terminated_pod(exitCode=2, containerID="docker://abc",
                         message="running plugin x\nOSError: [Errno 28] No space left on device\n")
    res = BuildResult.from_build(failed_build(**annotations), [pod])
    # the last line of a termination message is the error; the rest is in the task's logs
    assert res.error_message() == (
        "Error in pod: exit code 2: OSError: [Errno 28] No space left on device")


def test_pod_reason_without_message_or_exit_text():
    assert result.pod_failure_reason(terminated_pod(exitCode=137, reason="OOMKilled"))["reason"] \
        == "OOMKilled"
    assert result.pod_failure_reason(terminated_pod(exitCode=1)) == {
        "exitCode": 1, "reason": "Exit code 1"}


def test_pod_without_failed_container_reports_pod_status():
    pod = {"status": {"phase": "Failed", "reason": "Evicted",
                      "message": "The node was low on resource: ephemeral-storage."}}
    assert result.pod_failure_reason(pod) == {
        "reason": "The node was low on resource: ephemeral-storage."}
    assert result.pod_failure_reason({"status": {"phase": "Failed"}}) == {"reason": "Failed"}


def test_no_plugin_error_no_pod_uses_build_status_or_nothing():
    build = failed_build()
    build["status"]["reason"] = "GenericBuildFailed"
    assert BuildResult.from_build(build).error_message() == "GenericBuildFailed"
    del build["status"]["reason"]
    assert BuildResult.from_build(build).error_message() is None


# --------------------------------------------------------------------------- odd JSON


ODD_BUILDS = [
    None, {}, [], "text", 42,
    {"metadata": None, "status": None},
    {"metadata": {"annotations": None, "labels": None}, "status": {"phase": None}},
    {"metadata": {"annotations": {"repositories": "{not json",
                                  "plugins-metadata": "[1, 2",
                                  "digests": '{"a": 1}',
                                  "koji_task_annotations_whitelist": "{\"a\": 1}"},
                  "labels": {"koji-build-id": ["1"]}}},
    {"metadata": {"annotations": {"repositories": '{"primary": "not-a-list", "unique": [1, null]}',
                                  "plugins-metadata": '{"errors": "text"}',
                                  "koji_task_annotations_whitelist": '[1, null, "x"]',
                                  "x": 5},
                  "labels": {"koji-build-id": True}},
     "status": {"phase": "Failed"}},
    {"metadata": {"annotations": {"repositories": 17, "plugins-metadata": None}}},
]


@pytest.mark.parametrize("build", ODD_BUILDS)
@pytest.mark.parametrize("pods", [None, [], {"items": None}, ["not a pod", None],
                                  [{"status": "x", "spec": None}], {"kind": "PodList"}])
def test_odd_json_never_raises(build, pods):
    res = BuildResult.from_build(build, pods)
    assert res.repositories == []
    assert res.koji_build_id is None
    assert res.koji_task_annotations == {}
    assert res.digests == []
    assert res.node is None
    res.error_message()
    diagnose_failure(build, pods)
    diagnose_pending(build, pods, events=pods)


def test_koji_build_id_number_or_blank():
    assert result.koji_build_id({"metadata": {"labels": {"koji-build-id": 17}}}) == "17"
    assert result.koji_build_id({"metadata": {"labels": {"koji-build-id": " "}}}) is None


def test_annotations_missing_entirely_fall_back_to_labels_like_osbs_client():
    build = {"metadata": {"labels": {"repositories": REPOSITORIES}}}
    assert len(result.repositories(build)) == 4


def test_pods_as_pod_list_and_selection_by_build_name():
    mine = {"metadata": {"name": "b-1-build", "labels": {"openshift.io/build.name": "b-1"},
                         "creationTimestamp": "2021-01-01T00:00:00Z"}, "spec": {"nodeName": "n1"}}
    other = {"metadata": {"name": "b-2-build", "labels": {"openshift.io/build.name": "b-2"}},
             "spec": {"nodeName": "n2"}}
    build = {"metadata": {"name": "b-1"}}
    assert BuildResult.from_build(build, {"items": [other, mine]}).node == "n1"
    build["metadata"]["annotations"] = {"openshift.io/build.pod-name": "b-2-build"}
    assert BuildResult.from_build(build, [mine, other]).node == "n2"


# --------------------------------------------------------------------------- diagnosis


def pending_pod(**status) -> dict:
    pod = copy.deepcopy(fixture("pods.json")["items"][0])
    pod["status"] = dict({"phase": "Pending"}, **status)
    return pod


def test_diagnose_unschedulable_pod():
    pod = pending_pod(conditions=[{"type": "PodScheduled", "status": "False",
                                   "reason": "Unschedulable",
                                   "message": "0/3 nodes are available: 3 Insufficient memory."}])
    build = fixture("build_test-build-123.json")
    build["status"]["phase"] = "Pending"
    assert diagnose_pending(build, [pod]) == (
        "build pod scratch-79683-20191011152333-build cannot be scheduled: "
        "0/3 nodes are available: 3 Insufficient memory.")


@pytest.mark.parametrize("reason", ["ImagePullBackOff", "ErrImagePull"])
def test_diagnose_image_pull_failure(reason):
    pod = pending_pod(containerStatuses=[{"name": "custom-build", "state": {"waiting": {
        "reason": reason, "message": 'Back-off pulling image "buildroot:latest"'}}}])
    assert diagnose_pending(fixture("build_test-build-123.json"), [pod]) == (
        f"build pod scratch-79683-20191011152333-build cannot start: {reason}: "
        'Back-off pulling image "buildroot:latest"')


def test_diagnose_quota_from_events():
    build = {"metadata": {"name": "foo-1"},
             "status": {"phase": "New", "reason": "CannotCreateBuildPod",
                        "message": "Failed creating build pod."}}
    events = {"kind": "EventList", "items": [
        {"type": "Normal", "reason": "Scheduled", "message": "fine",
         "involvedObject": {"name": "foo-1"}},
        {"type": "Warning", "reason": "FailedCreate", "lastTimestamp": "2021-06-09T10:00:00Z",
         "message": 'pods "foo-1-build" is forbidden: exceeded quota: pause, requested: pods=1',
         "involvedObject": {"kind": "Build", "name": "foo-1"}},
        {"type": "Warning", "reason": "Other", "message": "another build",
         "involvedObject": {"name": "bar-1"}},
    ]}
    assert diagnose_pending(build, [], events) == (
        'build foo-1 is waiting: FailedCreate: pods "foo-1-build" is forbidden: '
        "exceeded quota: pause, requested: pods=1")
    assert diagnose_pending(build, []) == \
        "build foo-1 is waiting: CannotCreateBuildPod: Failed creating build pod."


def test_diagnose_serial_build_config_queue():
    build = {"metadata": {"name": "foo-rhel-840-75fff-2"},
             "status": {"phase": "New", "config": {"kind": "BuildConfig",
                                                   "name": "foo-rhel-840-75fff"}}}
    assert "queued behind an earlier build of BuildConfig foo-rhel-840-75fff" in \
        diagnose_pending(build)


def test_nothing_to_say_about_a_normal_pending_build():
    build = fixture("build_test-build-123.json")
    build["status"]["phase"] = "Pending"
    del build["status"]["reason"]          # the capture kept a reason from an earlier phase
    assert diagnose_pending(build, fixture("pods.json")) is None


def test_diagnose_evicted_pod():
    pod = pending_pod(phase="Failed", reason="Evicted",
                      message="The node was low on resource: ephemeral-storage. Container "
                              "custom-build was using 21Gi, which exceeds its request of 0.")
    message = diagnose_failure(fixture("build_test-build-123.json"), [pod])
    assert message.startswith("The build pod was evicted on node example.com: the node ran out "
                              "of ephemeral-storage (The node was low on resource")
    assert "\n" not in message


def test_diagnose_deadline_exceeded():
    pod = pending_pod(phase="Failed", reason="DeadlineExceeded",
                      message="Pod was active on the node longer than the specified deadline")
    message = diagnose_failure(fixture("build_test-orchestrator-build-123.json"), [pod])
    assert message.startswith("The build ran longer than its deadline of 4h")
    assert "orchestrator_max_run_hours" in message


def test_diagnose_failure_says_nothing_for_ordinary_failures():
    assert diagnose_failure(fixture("build_test-build-123.json"),
                            [terminated_pod(exitCode=1, message="plugin failed")]) is None
