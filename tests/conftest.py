"""Fixtures every level of tests may use."""

pytest_plugins = ["tests.support.stores"]
