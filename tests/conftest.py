"""Shared by the whole suite: the report header names the Python stack under test."""

from __future__ import annotations

from tests.test_stack import describe


def pytest_report_header(config) -> str:
    return describe()
