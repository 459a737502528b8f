"""Two `wowlab beacon` processes sharing the NATS and Redis servers scripts/test started
(WOWLAB_TEST_NATS_URL, WOWLAB_TEST_REDIS_URL), for centrifuge-python. Under CI a missing
variable fails the run; otherwise the tests are skipped with the reason."""

import asyncio
import json
import os
import pathlib
import re
import select
import subprocess
import time
import urllib.request
import uuid

import pytest

CONFIG = pathlib.Path(__file__).resolve().parent.parent / "distributed-test.json"
API_KEY = "compat-test-api-key"
SECRET = "compat-test-secret"
NEEDED = ["WOWLAB_BIN", "WOWLAB_TEST_NATS_URL", "WOWLAB_TEST_REDIS_URL"]


def pytest_configure(config):
    missing = [v for v in NEEDED if not os.environ.get(v)]
    if missing and os.environ.get("CI"):
        raise pytest.UsageError(f"{', '.join(missing)} not set (required under CI; scripts/test sets them)")


def pytest_collection_modifyitems(config, items):
    missing = [v for v in NEEDED if not os.environ.get(v)]
    if missing:
        skip = pytest.mark.skip(reason=f"{', '.join(missing)} not set (run scripts/test --only distributed)")
        for item in items:
            item.add_marker(skip)


class Beacon:
    """One beacon process; `api()` calls its server API."""

    def __init__(self, name: str, prefix: str):
        env = dict(os.environ)
        env.update(
            RUST_LOG=env.get("RUST_LOG", "warn"),
            WOWLAB_BEACON_BROKER_NATS_PREFIX=prefix,
            WOWLAB_BEACON_PRESENCE_MANAGER_REDIS_PREFIX=prefix,
        )
        self.name = name
        self.proc = subprocess.Popen(
            [
                os.environ["WOWLAB_BIN"], "beacon", "--config", str(CONFIG),
                "--nats-url", os.environ["WOWLAB_TEST_NATS_URL"],
                "--redis-url", os.environ["WOWLAB_TEST_REDIS_URL"],
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        deadline = time.time() + 30
        out = ""
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"beacon {name} exited: {out}")
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if ready:
                out += self.proc.stdout.readline()
                m = re.search(r"beacon listening on (http://\S+)", out)
                if m:
                    self.url = m.group(1)
                    self.ws_url = self.url.replace("http", "ws", 1) + "/connection/websocket"
                    return
        self.stop()
        raise RuntimeError(f"beacon {name} did not start: {out}")

    def api(self, method: str, body: dict) -> dict:
        req = urllib.request.Request(
            f"{self.url}/api/{method}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "X-API-Key": API_KEY},
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=5) as res:  # noqa: S310 - loopback URL
            reply = json.loads(res.read())
        assert not reply.get("error"), reply
        return reply.get("result", {})

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
def cluster():
    prefix = f"py{uuid.uuid4().hex[:12]}"
    a = Beacon("A", prefix)
    b = Beacon("B", prefix)
    yield a, b
    a.stop()
    b.stop()


@pytest.fixture(params=[False, True], ids=["json", "protobuf"])
def use_protobuf(request) -> bool:
    return request.param


@pytest.fixture(autouse=True)
async def settle():
    """Lets disconnected clients' close tasks finish before the test's loop goes away."""
    yield
    await asyncio.sleep(0.1)
