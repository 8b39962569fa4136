"""The task's osbs-client.log: INFO lines of the plugin and its library always, DEBUG lines
(every OpenShift request) when osbs.conf says ``[general] verbose = true``, as with
osbs-client."""

from __future__ import annotations

import pytest

from .helpers import STATES, fault_of


@pytest.mark.parametrize("verbose", [False, True])
def test_osbs_conf_verbose_puts_debug_lines_in_osbs_client_log(world, verbose):
    if verbose:
        world.osbs_conf.write_text(world.osbs_conf_text().replace(
            "[general]\n", "[general]\nverbose = true\n"))
    task_id = world.submit({"scratch": True})
    assert world.run(task_id)["state"] == STATES["CLOSED"], fault_of(world, task_id)
    text = world.output(task_id, "osbs-client.log").decode()
    debug = [line for line in text.splitlines() if " - DEBUG - " in line]
    assert " - INFO - " in text
    if not verbose:
        assert debug == []
        return
    requests = [line for line in debug if "koji_containerbuild.openshift" in line]
    assert any("POST /apis/build.openshift.io/v1/namespaces/default/builds: 201" in line
               for line in requests), debug
    assert any("GET /api/v1/namespaces/default/configmaps/reactor-config-map: 200" in line
               for line in requests), debug
    assert world.sim.token not in text
