"""Shared helpers for the Python compat suite: beacon address, tokens, server API, events."""

import asyncio
import json
import os
import time
import urllib.request
import uuid
from typing import Any, Callable, Dict, List, Optional

import jwt
from centrifuge import (
    Client,
    ClientEventHandler,
    SubscriptionEventHandler,
)

BASE = os.environ.get("BEACON_URL", "")
SECRET = os.environ.get("BEACON_SECRET", "compat-test-secret")
API_KEY = os.environ.get("BEACON_API_KEY", "compat-test-api-key")
WS_URL = BASE.replace("http", "ws", 1) + "/connection/websocket"


def channel(ns: Optional[str], prefix: str = "c") -> str:
    """A unique channel name in namespace ns (or without namespace)."""
    name = f"{prefix}_{uuid.uuid4().hex}"
    return f"{ns}:{name}" if ns else name


def conn_token(sub: str = "42", ttl: Optional[int] = 3600, secret: str = SECRET, **claims) -> str:
    """HS256 connection token; ttl None means no exp claim."""
    payload: Dict[str, Any] = {"sub": sub, **claims}
    if ttl is not None:
        payload["exp"] = int(time.time()) + ttl
    return jwt.encode(payload, secret, algorithm="HS256")


def sub_token(
    chan: str, sub: str = "42", ttl: Optional[int] = 3600, secret: str = SECRET, **claims
) -> str:
    """HS256 subscription token for chan."""
    payload: Dict[str, Any] = {"sub": sub, "channel": chan, **claims}
    if ttl is not None:
        payload["exp"] = int(time.time()) + ttl
    return jwt.encode(payload, secret, algorithm="HS256")


class ApiError(Exception):
    """An error object returned by the server API."""

    def __init__(self, code: int, message: str):
        super().__init__(f"{code} {message}")
        self.code = code


def _api_sync(method: str, body: Dict[str, Any]) -> Dict[str, Any]:
    req = urllib.request.Request(
        f"{BASE}/api/{method}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "X-API-Key": API_KEY},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=5) as res:  # noqa: S310 - loopback URL
        reply = json.loads(res.read())
    if reply.get("error"):
        raise ApiError(reply["error"].get("code", 0), reply["error"].get("message", ""))
    return reply.get("result", {})


async def api(method: str, body: Dict[str, Any]) -> Dict[str, Any]:
    """POST /api/<method> with the API key; returns result or raises ApiError."""
    return await asyncio.to_thread(_api_sync, method, body)


async def api_publish(chan: str, data: Any) -> Dict[str, Any]:
    """Publish a JSON value through the server API."""
    return await api("publish", {"channel": chan, "data": data})


def encode(use_protobuf: bool, value: Any) -> Any:
    """Client publish payload: bytes in protobuf mode, a JSON value otherwise."""
    return json.dumps(value).encode() if use_protobuf else value


def decode(use_protobuf: bool, data: Any) -> Any:
    """Publication data as a JSON value for either mode."""
    return json.loads(data) if use_protobuf else data


class Recorder:
    """Records events by name; wait() blocks until a matching one arrived."""

    def __init__(self) -> None:
        self.events: Dict[str, List[Any]] = {}
        self._changed = asyncio.Event()

    def record(self, name: str, ctx: Any) -> None:
        self.events.setdefault(name, []).append(ctx)
        self._changed.set()

    def get(self, name: str) -> List[Any]:
        return self.events.get(name, [])

    async def wait(
        self,
        name: str,
        count: int = 1,
        pred: Callable[[Any], bool] = lambda _: True,
        timeout: float = 5.0,
    ) -> List[Any]:
        async def loop() -> List[Any]:
            while True:
                hits = [e for e in self.get(name) if pred(e)]
                if len(hits) >= count:
                    return hits
                self._changed.clear()
                await self._changed.wait()

        try:
            return await asyncio.wait_for(loop(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(
                f"timed out waiting for {count} '{name}' events; got {self.get(name)!r}"
            ) from None


class ClientEvents(ClientEventHandler):
    """Client event handler feeding a Recorder (plus an optional on_connecting hook)."""

    def __init__(self, rec: Recorder, on_connecting_hook=None) -> None:
        self.rec = rec
        self.hook = on_connecting_hook

    async def on_connecting(self, ctx):
        self.rec.record("connecting", ctx)
        if self.hook is not None:
            await self.hook(ctx)

    async def on_connected(self, ctx):
        self.rec.record("connected", ctx)

    async def on_disconnected(self, ctx):
        self.rec.record("disconnected", ctx)

    async def on_error(self, ctx):
        self.rec.record("error", ctx)

    async def on_subscribed(self, ctx):
        self.rec.record("server_subscribed", ctx)

    async def on_publication(self, ctx):
        self.rec.record("server_publication", ctx)


class SubEvents(SubscriptionEventHandler):
    """Subscription event handler feeding a Recorder."""

    def __init__(self, rec: Recorder) -> None:
        self.rec = rec

    async def on_subscribing(self, ctx):
        self.rec.record("subscribing", ctx)

    async def on_subscribed(self, ctx):
        self.rec.record("subscribed", ctx)

    async def on_unsubscribed(self, ctx):
        self.rec.record("unsubscribed", ctx)

    async def on_publication(self, ctx):
        self.rec.record("publication", ctx)

    async def on_join(self, ctx):
        self.rec.record("join", ctx)

    async def on_leave(self, ctx):
        self.rec.record("leave", ctx)

    async def on_error(self, ctx):
        self.rec.record("sub_error", ctx)


def new_client(use_protobuf: bool, rec: Recorder, hook=None, **kwargs) -> Client:
    """A centrifuge-python client pointed at beacon, recording its events into rec."""
    kwargs.setdefault("timeout", 5.0)
    kwargs.setdefault("min_reconnect_delay", 0.1)
    kwargs.setdefault("max_reconnect_delay", 1.0)
    return Client(
        WS_URL,
        events=ClientEvents(rec, hook),
        use_protobuf=use_protobuf,
        proxy=None,
        **kwargs,
    )
