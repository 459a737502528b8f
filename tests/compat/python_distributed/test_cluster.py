"""centrifuge-python against two beacons sharing NATS + Redis: publish through A, receive on
B; presence agrees from both; a client that moves from A to B recovers what it missed."""

import asyncio
import json
import time
import uuid

import jwt
from centrifuge import Client, StreamPosition, SubscriptionEventHandler

from conftest import SECRET


def token(sub: str) -> str:
    return jwt.encode({"sub": sub, "exp": int(time.time()) + 3600}, SECRET, algorithm="HS256")


def channel(prefix: str) -> str:
    return f"dist:{prefix}_{uuid.uuid4().hex}"


class Events(SubscriptionEventHandler):
    def __init__(self):
        self.pubs = []
        self.subscribed = []
        self.changed = asyncio.Event()

    async def on_publication(self, ctx):
        self.pubs.append(ctx.pub)
        self.changed.set()

    async def on_subscribed(self, ctx):
        self.subscribed.append(ctx)
        self.changed.set()

    async def wait(self, check, timeout=10.0):
        async def loop():
            while not check():
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(loop(), timeout)


def data(use_protobuf, pub):
    return json.loads(pub.data) if use_protobuf else pub.data


async def subscribed_client(url, use_protobuf, user, ch, **sub_kwargs):
    c = Client(url, token=token(user), use_protobuf=use_protobuf, timeout=5.0,
               min_reconnect_delay=0.1, max_reconnect_delay=1.0)
    ev = Events()
    sub = c.new_subscription(ch, events=ev, **sub_kwargs)
    await c.connect()
    await sub.subscribe()
    await sub.ready(5)
    return c, sub, ev


async def test_publish_on_a_reaches_b(cluster, use_protobuf):
    a, b = cluster
    ch = channel("py")
    c, _, ev = await subscribed_client(b.ws_url, use_protobuf, "py-reader", ch)
    try:
        for n in range(1, 4):
            await asyncio.to_thread(a.api, "publish", {"channel": ch, "data": {"n": n}})
        await ev.wait(lambda: len(ev.pubs) == 3)
        assert [data(use_protobuf, p)["n"] for p in ev.pubs] == [1, 2, 3]
        assert [p.offset for p in ev.pubs] == [1, 2, 3]
    finally:
        await c.disconnect()


async def test_presence_agrees_from_both(cluster, use_protobuf):
    a, b = cluster
    ch = channel("pypres")
    ca, sa, _ = await subscribed_client(a.ws_url, use_protobuf, "pa", ch)
    cb, sb, _ = await subscribed_client(b.ws_url, use_protobuf, "pb", ch)
    try:
        for node in (a, b):
            stats = await asyncio.to_thread(node.api, "presence_stats", {"channel": ch})
            assert stats["num_clients"] == 2, (node.name, stats)
            assert stats["num_users"] == 2, (node.name, stats)
        # The clients' own calls, answered by different beacons.
        pa = await sa.presence()
        pb = await sb.presence()
        assert sorted(i.user for i in pa.clients.values()) == ["pa", "pb"]
        assert sorted(i.user for i in pb.clients.values()) == ["pa", "pb"]
    finally:
        await ca.disconnect()
        await cb.disconnect()


async def test_client_moved_from_a_to_b_recovers(cluster, use_protobuf):
    a, b = cluster
    ch = channel("pymove")
    c, _, ev = await subscribed_client(a.ws_url, use_protobuf, "mover", ch)
    for n in (1, 2):
        await asyncio.to_thread(a.api, "publish", {"channel": ch, "data": {"n": n}})
    await ev.wait(lambda: len(ev.pubs) == 2)
    epoch = ev.subscribed[0].stream_position.epoch
    last = ev.pubs[-1].offset
    await c.disconnect()
    for n in (3, 4, 5):
        await asyncio.to_thread(a.api, "publish", {"channel": ch, "data": {"n": n}})
    # The app kept its stream position (centrifuge-python's get_state): the new client on B
    # subscribes from it.
    async def get_state(_channel):
        return StreamPosition(offset=last, epoch=epoch)

    c2, _, ev2 = await subscribed_client(b.ws_url, use_protobuf, "mover", ch, get_state=get_state)
    try:
        assert ev2.subscribed[0].recovered, ev2.subscribed[0]
        await ev2.wait(lambda: len(ev2.pubs) == 3)
        assert [data(use_protobuf, p)["n"] for p in ev2.pubs] == [3, 4, 5]
        assert [p.offset for p in ev2.pubs] == [3, 4, 5]
    finally:
        await c2.disconnect()
