"""Load the real hub plugin file the way the hub does, against the kojihub stand-in."""

from __future__ import annotations

import os
import sys

import pytest
from koji.context import context
from koji.plugin import PluginTracker

from koji_containerbuild import hub

from .standin import HubSession, KojiHub

PLUGIN_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "hub_plugin")


@pytest.fixture
def hub_env(monkeypatch, tmp_path):
    session = HubSession()
    fake = KojiHub(session)
    monkeypatch.setitem(sys.modules, "kojihub", fake)
    monkeypatch.setattr(hub, "settings_path", str(tmp_path / "hub_containerbuild.conf"))
    context.session = session
    tracker = PluginTracker(path=[PLUGIN_DIR])
    module = tracker.load("hub_containerbuild", reload=True)
    yield fake, session, module
    sys.modules.pop("_koji_plugin__hub_containerbuild", None)
    del context.session
