"""Watch requests at the edges, over raw gRPC, printing one line per
response so that two servers' outputs can be compared: a stream the client
half-closes, an empty key range, a duplicate watch ID, a negative start
revision and a compacted one. Expects a fresh member.
Usage: watch_edges.py HOST PORT"""
import sys
import time

import grpc
import etcd3.etcdrpc as rpc

from grpc_wire import varint


def describe(response):
    events = [(e.type, e.kv.key.decode(), e.kv.value.decode(), e.kv.mod_revision)
              for e in response.events]
    return (f"id={response.watch_id} created={response.created} "
            f"canceled={response.canceled} compact={response.compact_revision} "
            f"reason={response.cancel_reason!r} header_rev={response.header.revision} "
            f"events={events}")


def create(watch_id=None, **fields):
    """A WatchRequest holding a create request; etcd3's protos predate
    `watch_id` (WatchCreateRequest field 7), so it goes in as raw bytes."""
    raw = rpc.WatchCreateRequest(**fields).SerializeToString()
    if watch_id is not None:
        raw += b"\x38" + varint(watch_id)
    return b"\x0a" + varint(len(raw)) + raw


def watch(channel, requests, then=None, seconds=2.0):
    """Sends `requests`, half-closes, runs `then` once the first response
    came, and prints every response until the stream ends or `seconds`."""
    call = channel.stream_stream(
        "/etcdserverpb.Watch/Watch", request_serializer=lambda b: b,
        response_deserializer=rpc.WatchResponse.FromString)
    responses = call(iter(requests), timeout=seconds)
    started = time.time()
    try:
        for index, response in enumerate(responses):
            print("  " + describe(response))
            if index == 0 and then:
                then()
    except grpc.RpcError as error:
        # At the deadline etcd sends DeadlineExceeded or Unknown, whichever
        # wins a race in its watch handler: both mean the same here.
        ending = error.code().name
        if error.code() == grpc.StatusCode.DEADLINE_EXCEEDED or (
                error.details() == "context deadline exceeded"):
            ending = "at the deadline"
        print(f"  ended {ending} after {round(time.time() - started)}s")
        return
    print(f"  ended OK after {round(time.time() - started)}s")


def main():
    channel = grpc.insecure_channel(f"{sys.argv[1]}:{sys.argv[2]}")
    kv = rpc.KVStub(channel)

    def put(key, value):
        kv.Put(rpc.PutRequest(key=key.encode(), value=value.encode()), timeout=5)

    put("a", "1")
    put("a", "2")
    print("half-closed after its create, a put follows:")
    watch(channel, [create(key=b"a")], then=lambda: put("a", "3"))
    print("a range whose end is not after its key, then a watcher with an ID picked:")
    watch(channel, [create(key=b"i", range_end=b"a"),
                    create(key=b"i", range_end=b"i"),
                    create(key=b"x")], seconds=1)
    print("an ID given twice:")
    watch(channel, [create(key=b"h", watch_id=5),
                    create(key=b"h", watch_id=5)], seconds=1)
    print("a negative start revision before any compaction:")
    watch(channel, [create(key=b"a", start_revision=-3)], seconds=1)
    put("a", "4")
    kv.Compact(rpc.CompactionRequest(revision=4), timeout=5)
    print("a start revision compacted away:")
    watch(channel, [create(key=b"a", start_revision=2)], seconds=1)
    print("a negative start revision after a compaction:")
    watch(channel, [create(key=b"a", start_revision=-3)], seconds=1)
    print("a start revision at the compaction:")
    watch(channel, [create(key=b"a", start_revision=4)], seconds=1)
    print("done")


if __name__ == "__main__":
    main()
