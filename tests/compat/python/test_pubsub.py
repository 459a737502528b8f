"""Subscribe, publish via the server API, client publish, presence, join/leave, history."""

import pytest
from centrifuge import ReplyError, SubscriptionState

from helpers import (
    Recorder,
    SubEvents,
    api,
    api_publish,
    channel,
    conn_token,
    decode,
    encode,
    new_client,
)


async def subscribed_client(use_protobuf, rec, clients, ch, user="42", **sub_kwargs):
    c = new_client(use_protobuf, rec, token=conn_token(user))
    clients.append(c)
    sub = c.new_subscription(ch, events=SubEvents(rec), **sub_kwargs)
    await c.connect()
    await sub.subscribe()
    await sub.ready(5)
    return c, sub


async def test_api_publish_received(use_protobuf, rec, clients):
    ch = channel(None, "pub")
    _, sub = await subscribed_client(use_protobuf, rec, clients, ch)
    (s,) = await rec.wait("subscribed")
    assert s.recoverable and s.positioned
    r1 = await api_publish(ch, {"n": 1})
    r2 = await api_publish(ch, {"n": 2})
    assert r2["offset"] == r1["offset"] + 1
    assert r1["epoch"] == s.stream_position.epoch
    pubs = await rec.wait("publication", 2)
    assert [decode(use_protobuf, p.pub.data) for p in pubs] == [{"n": 1}, {"n": 2}]
    assert [p.pub.offset for p in pubs] == [r1["offset"], r2["offset"]]


async def test_client_publish_as_subscriber(use_protobuf, rec, clients):
    ch = channel("example", "pub")
    _, sub = await subscribed_client(use_protobuf, rec, clients, ch)
    await sub.publish(encode(use_protobuf, {"hi": "there"}))
    (p,) = await rec.wait("publication")
    assert decode(use_protobuf, p.pub.data) == {"hi": "there"}
    assert p.pub.info is not None and p.pub.info.user == "42"


async def test_client_publish_not_subscribed_103(use_protobuf, rec, clients):
    c = new_client(use_protobuf, rec, token=conn_token("42"))
    clients.append(c)
    await c.connect()
    with pytest.raises(ReplyError) as e:
        await c.publish(channel("example", "nopub"), encode(use_protobuf, {"x": 1}))
    assert e.value.code == 103


async def test_presence_and_stats(use_protobuf, rec, clients):
    ch = channel("example", "pres")
    _, sub = await subscribed_client(use_protobuf, rec, clients, ch)
    (conn,) = await rec.wait("connected")
    p = await sub.presence()
    assert list(p.clients) == [conn.client]
    assert p.clients[conn.client].user == "42"
    st = await sub.presence_stats()
    assert (st.num_clients, st.num_users) == (1, 1)
    await sub.unsubscribe()
    assert sub.state == SubscriptionState.UNSUBSCRIBED
    res = await api("presence_stats", {"channel": ch})
    assert res.get("num_clients", 0) == 0


async def test_join_leave(use_protobuf, clients):
    ch = channel("example", "jl")
    rec_a, rec_b = Recorder(), Recorder()
    await subscribed_client(use_protobuf, rec_a, clients, ch, user="42", join_leave=True)
    _, sub_b = await subscribed_client(use_protobuf, rec_b, clients, ch, user="43")
    (b_conn,) = await rec_b.wait("connected")
    (j,) = await rec_a.wait("join", pred=lambda e: e.info.user == "43")
    assert j.info.client == b_conn.client
    await sub_b.unsubscribe()
    (lv,) = await rec_a.wait("leave", pred=lambda e: e.info.user == "43")
    assert lv.info.client == b_conn.client


async def test_history(use_protobuf, rec, clients):
    ch = channel("recovery", "hist")
    results = [await api_publish(ch, {"i": i}) for i in range(1, 6)]
    epoch = results[0]["epoch"]
    c, sub = await subscribed_client(use_protobuf, rec, clients, ch)
    h = await sub.history(limit=10)
    assert h.epoch == epoch and h.offset == results[-1]["offset"]
    assert [decode(use_protobuf, p.data) for p in h.publications] == [{"i": i} for i in range(1, 6)]
    assert [p.offset for p in h.publications] == [r["offset"] for r in results]
    rev = await sub.history(limit=2, reverse=True)
    assert [decode(use_protobuf, p.data) for p in rev.publications] == [{"i": 5}, {"i": 4}]
    from centrifuge import StreamPosition

    since = await sub.history(limit=10, since=StreamPosition(offset=results[1]["offset"], epoch=epoch))
    assert [decode(use_protobuf, p.data) for p in since.publications] == [{"i": i} for i in (3, 4, 5)]
    with pytest.raises(ReplyError) as e:
        await sub.history(limit=10, since=StreamPosition(offset=1, epoch="wrongepoch"))
    assert e.value.code == 112


async def test_history_size_cap(use_protobuf, rec, clients):
    ch = channel("smallhistory", "cap")
    for i in range(1, 5):
        await api_publish(ch, {"i": i})
    _, sub = await subscribed_client(use_protobuf, rec, clients, ch)
    h = await sub.history(limit=-1)
    assert [decode(use_protobuf, p.data) for p in h.publications] == [{"i": 3}, {"i": 4}]
    assert h.offset == 4
