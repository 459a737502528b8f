"""Fossil delta compression with centrifuge-python (JSON and protobuf): a `delta=fossil`
subscription in the `delta` namespace (allowed_delta_types + delta_publish) gets deltas after
the first publication and decodes exactly what was published."""

import json

from centrifuge import DeltaType

from helpers import SubEvents, api_publish, channel, conn_token, new_client


def doc(n):
    return {"n": n, "rows": [f"row {k}: {'changed' if k == n else 'same'}" for k in range(40)]}


async def test_delta_publications_decode_to_the_published_data(use_protobuf, rec, clients):
    ch = channel("delta", "py")
    c = new_client(use_protobuf, rec, token=conn_token("42"))
    clients.append(c)
    flags = []
    codec_apply = c._codec.apply_delta_if_needed

    def counting(prev, pub):
        flags.append(pub.delta)
        return codec_apply(prev, pub)

    # Records whether each publication came as a delta; decoding stays the client's own.
    c._codec.apply_delta_if_needed = counting
    sub = c.new_subscription(ch, events=SubEvents(rec), delta=DeltaType.FOSSIL)
    await c.connect()
    await sub.subscribe()
    await sub.ready(5)
    for n in range(1, 9):
        await api_publish(ch, doc(n))
    pubs = await rec.wait("publication", 8)
    if use_protobuf:
        # Byte for byte what the API was given (helpers.api sends json.dumps output).
        assert [bytes(p.pub.data) for p in pubs] == [json.dumps(doc(n)).encode() for n in range(1, 9)]
    else:
        assert [p.pub.data for p in pubs] == [doc(n) for n in range(1, 9)]
    assert flags == [False] + [True] * 7
