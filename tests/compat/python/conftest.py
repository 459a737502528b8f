"""Fixtures of the Python compat suite."""

import asyncio
import os

import pytest

import helpers


def pytest_configure(config):
    if not os.environ.get("BEACON_URL"):
        raise pytest.UsageError("BEACON_URL is not set: run this suite through scripts/test --only python")


@pytest.fixture(params=[False, True], ids=["json", "protobuf"])
def use_protobuf(request) -> bool:
    """Run each test with the JSON and the protobuf protocol."""
    return request.param


@pytest.fixture
async def clients():
    """Collects clients created by a test and disconnects them afterwards."""
    made = []
    yield made
    for c in made:
        await c.disconnect()
    # Let the clients' close tasks finish before the loop goes away.
    await asyncio.sleep(0.1)


@pytest.fixture
def rec() -> helpers.Recorder:
    return helpers.Recorder()
