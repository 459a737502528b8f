"""Connection: token auth, refresh via get_token, unauthorized outcomes."""

import asyncio

from centrifuge import ClientState

from helpers import Recorder, conn_token, new_client


async def test_connect_with_token(use_protobuf, rec, clients):
    c = new_client(use_protobuf, rec, token=conn_token("42"))
    clients.append(c)
    await c.connect()
    await c.ready(5)
    assert c.state == ClientState.CONNECTED
    (ctx,) = await rec.wait("connected")
    assert len(ctx.client) == 36
    await c.disconnect()
    assert c.state == ClientState.DISCONNECTED


async def test_bad_token_disconnects_3500(use_protobuf, rec, clients):
    c = new_client(use_protobuf, rec, token=conn_token("42", secret="not-the-secret"))
    clients.append(c)
    await c.connect()
    (d,) = await rec.wait("disconnected")
    assert d.code == 3500, d
    assert c.state == ClientState.DISCONNECTED


async def test_no_token_disconnects_3501(use_protobuf, rec, clients):
    c = new_client(use_protobuf, rec)
    clients.append(c)
    await c.connect()
    (d,) = await rec.wait("disconnected")
    assert d.code == 3501, d


async def test_expired_token_then_get_token(use_protobuf, rec, clients):
    calls = []

    async def get_token():
        calls.append(1)
        return conn_token("42")

    c = new_client(use_protobuf, rec, token=conn_token("42", ttl=-60), get_token=get_token)
    clients.append(c)
    await c.connect()
    await rec.wait("connected", timeout=10)
    assert calls, "get_token was called after the 109 reply"
    assert c.state == ClientState.CONNECTED


async def test_token_refresh_before_expiry(use_protobuf, rec, clients):
    calls = []

    async def get_token():
        calls.append(1)
        return conn_token("42", ttl=2)

    c = new_client(use_protobuf, rec, token=conn_token("42", ttl=2), get_token=get_token)
    clients.append(c)
    await c.connect()
    await c.ready(5)
    connecting_before = len(rec.get("connecting"))
    # Two refresh rounds, and past the first token's expiry plus the 3 s close delay.
    await asyncio.sleep(6.5)
    assert len(calls) >= 2, f"get_token called {len(calls)} times"
    assert c.state == ClientState.CONNECTED
    assert len(rec.get("connecting")) == connecting_before, "no reconnect"
    assert len(rec.get("connected")) == 1


async def test_two_users_connect_concurrently(use_protobuf, clients):
    recs = [Recorder() for _ in range(5)]
    cs = [new_client(use_protobuf, r, token=conn_token(str(100 + i))) for i, r in enumerate(recs)]
    clients.extend(cs)
    await asyncio.gather(*(c.connect() for c in cs))
    await asyncio.gather(*(c.ready(5) for c in cs))
    ids = {(await r.wait("connected"))[0].client for r in recs}
    assert len(ids) == 5, "each connection has its own client id"
