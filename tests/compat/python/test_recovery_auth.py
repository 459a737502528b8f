"""Recovery after a dropped connection, unrecoverable positions, tokens and server-side subs."""

import asyncio

from centrifuge import ClientState, StreamPosition, SubscriptionState

from helpers import (
    Recorder,
    SubEvents,
    api_publish,
    channel,
    conn_token,
    decode,
    new_client,
    sub_token,
)


async def test_recovery_after_dropped_connection(use_protobuf, rec, clients):
    ch = channel("recovery", "rec")
    dropped = asyncio.Event()

    async def on_connecting(ctx):
        # Runs after the transport is gone and before the reconnect is scheduled: these
        # publications can only reach the client through recovery.
        if dropped.is_set():
            for n in (3, 4, 5):
                await api_publish(ch, {"n": n})
            dropped.clear()

    c = new_client(use_protobuf, rec, hook=on_connecting, token=conn_token("42"))
    clients.append(c)
    sub = c.new_subscription(ch, events=SubEvents(rec))
    await c.connect()
    await sub.subscribe()
    await sub.ready(5)
    await api_publish(ch, {"n": 1})
    await api_publish(ch, {"n": 2})
    await rec.wait("publication", 2)

    # Drop the TCP connection abruptly, like a network failure.
    dropped.set()
    c._conn.transport.abort()  # noqa: SLF001 - simulating a dead link needs the socket
    subs = await rec.wait("subscribed", 2, timeout=10)
    assert subs[1].was_recovering and subs[1].recovered, subs[1]
    await rec.wait("publication", 5)
    await api_publish(ch, {"n": 6})
    pubs = await rec.wait("publication", 6)
    await asyncio.sleep(0.2)
    pubs = rec.get("publication")
    assert [decode(use_protobuf, p.pub.data)["n"] for p in pubs] == [1, 2, 3, 4, 5, 6]
    assert [p.pub.offset for p in pubs] == [1, 2, 3, 4, 5, 6]


async def test_recovery_too_far_not_recovered(use_protobuf, rec, clients):
    ch = channel("smallhistory", "far")
    c = new_client(use_protobuf, rec, token=conn_token("42"))
    clients.append(c)
    sub = c.new_subscription(ch, events=SubEvents(rec))
    await c.connect()
    await sub.subscribe()
    await sub.ready(5)
    await api_publish(ch, {"n": 1})
    await rec.wait("publication", 1)
    await c.disconnect()
    for n in range(2, 7):
        await api_publish(ch, {"n": n})
    await c.connect()
    subs = await rec.wait("subscribed", 2, timeout=10)
    assert subs[1].was_recovering is True
    assert subs[1].recovered is False
    assert subs[1].stream_position.offset == 6
    await asyncio.sleep(0.2)
    assert len(rec.get("publication")) == 1, "nothing replayed from an unrecoverable position"


async def test_get_state_wrong_epoch_gets_112(use_protobuf, rec, clients):
    ch = channel("recovery", "state")
    top = await api_publish(ch, {"n": 1})
    positions = [StreamPosition(offset=1, epoch="wrongepoch"), StreamPosition(offset=top["offset"], epoch=top["epoch"])]
    calls = []

    async def get_state(_channel):
        calls.append(1)
        return positions[min(len(calls), 2) - 1]

    c = new_client(use_protobuf, rec, token=conn_token("42"))
    clients.append(c)
    sub = c.new_subscription(ch, events=SubEvents(rec), get_state=get_state)
    await c.connect()
    await sub.subscribe()
    (s,) = await rec.wait("subscribed", timeout=10)
    assert len(calls) == 2, "the server rejected the wrong epoch with 112 so get_state ran again"
    assert s.recovered is True


async def test_private_channel_with_sub_token(use_protobuf, rec, clients):
    ch = channel("private", "tok")
    c = new_client(use_protobuf, rec, token=conn_token("42"))
    clients.append(c)
    sub = c.new_subscription(ch, events=SubEvents(rec), token=sub_token(ch, "42"))
    await c.connect()
    await sub.subscribe()
    await sub.ready(5)
    await api_publish(ch, {"secret": True})
    (p,) = await rec.wait("publication")
    assert decode(use_protobuf, p.pub.data) == {"secret": True}


async def test_sub_token_refresh(use_protobuf, rec, clients):
    ch = channel("private", "ref")
    calls = []

    async def get_token(chan):
        calls.append(chan)
        return sub_token(chan, "42", ttl=2)

    c = new_client(use_protobuf, rec, token=conn_token("42"))
    clients.append(c)
    sub = c.new_subscription(ch, events=SubEvents(rec), get_token=get_token)
    await c.connect()
    await sub.subscribe()
    await sub.ready(5)
    await asyncio.sleep(6.5)
    assert len(calls) >= 3, f"get_token called {len(calls)} times"
    assert sub.state == SubscriptionState.SUBSCRIBED
    assert rec.get("unsubscribed") == []
    assert len(rec.get("subscribed")) == 1, "refresh kept the subscription"


async def test_private_channel_without_token_103(use_protobuf, rec, clients):
    c = new_client(use_protobuf, rec, token=conn_token("42"))
    clients.append(c)
    sub = c.new_subscription(channel("private", "denied"), events=SubEvents(rec))
    await c.connect()
    await sub.subscribe()
    (u,) = await rec.wait("unsubscribed")
    assert u.code == 103, u
    assert c.state == ClientState.CONNECTED


async def test_sub_token_for_other_channel_disconnects_3500(use_protobuf, rec, clients):
    ch = channel("private", "mismatch")
    c = new_client(use_protobuf, rec, token=conn_token("42"))
    clients.append(c)
    sub = c.new_subscription(ch, events=SubEvents(rec), token=sub_token(ch + "_other", "42"))
    await c.connect()
    await sub.subscribe()
    (d,) = await rec.wait("disconnected")
    assert d.code == 3500


async def test_server_side_subscriptions(use_protobuf, clients):
    rec = Recorder()
    ch1, ch2 = channel("server", "ss"), channel("server", "ss")
    c = new_client(use_protobuf, rec, token=conn_token("42", channels=[ch1, ch2]))
    clients.append(c)
    await c.connect()
    subs = await rec.wait("server_subscribed", 2)
    assert sorted(s.channel for s in subs) == sorted([ch1, ch2])
    await api_publish(ch1, {"to": 1})
    await api_publish(ch2, {"to": 2})
    pubs = await rec.wait("server_publication", 2)
    got = {p.channel: decode(use_protobuf, p.pub.data) for p in pubs}
    assert got == {ch1: {"to": 1}, ch2: {"to": 2}}
