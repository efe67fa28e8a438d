"""Watch features etcdctl does not reach, over raw gRPC: catch-up in
batches of at most 1000 revisions, fragments (WatchCreateRequest.fragment)
and progress notifications (progress_notify). Prints OK or what failed.
Usage: watch_check.py HOST PORT (the member runs with --max-request-bytes
100000 and --experimental-watch-progress-notify-interval 200ms)."""
import queue
import sys
import time

import grpc
import etcd3.etcdrpc as rpc

from grpc_wire import varint

LIMIT = 100_000 + 512 * 1024


def open_watch(stub, create, fragment=False):
    """etcd3's protos predate `fragment` (WatchCreateRequest field 8,
    WatchResponse field 7): the request gets it as raw bytes, and
    `fragmented` reads it from a response's unknown fields."""
    requests = queue.Queue()
    raw = create.SerializeToString() + (b"\x40\x01" if fragment else b"")
    requests.put(b"\x0a" + varint(len(raw)) + raw)

    def feed():
        while True:
            item = requests.get()
            if item is None:
                return
            yield item

    call = stub.stream_stream(
        "/etcdserverpb.Watch/Watch", request_serializer=lambda b: b,
        response_deserializer=rpc.WatchResponse.FromString)
    return requests, call(feed(), timeout=20)


def fragmented(response):
    return any(f.field_number == 7 and f.data == 1 for f in response.UnknownFields())


def collect(responses, events_wanted, seconds=10):
    """Responses after the created one, until events_wanted events came."""
    got, count, deadline = [], 0, time.time() + seconds
    for response in responses:
        if response.created:
            continue
        got.append(response)
        count += len(response.events)
        if count >= events_wanted or time.time() > deadline:
            break
    return got


def main():
    host, port = sys.argv[1], sys.argv[2]
    channel = grpc.insecure_channel(
        f"{host}:{port}", options=[("grpc.max_receive_message_length", 64 << 20)])
    kv, watch = rpc.KVStub(channel), channel
    failures = []

    for i in range(2500):
        kv.Put(rpc.PutRequest(key=b"small/%05d" % i, value=b"v"))
    requests, responses = open_watch(
        watch, rpc.WatchCreateRequest(key=b"small/", range_end=b"small0", start_revision=1))
    got = collect(responses, 2500)
    requests.put(None)
    sizes = [len(r.events) for r in got]
    if sum(sizes) != 2500 or max(sizes) > 1000 or len(sizes) < 3:
        failures.append(f"catch-up batches: {sizes}")
    revisions = [e.kv.mod_revision for r in got for e in r.events]
    if revisions != sorted(revisions) or len(set(revisions)) != 2500:
        failures.append("catch-up events out of order or repeated")

    for i in range(20):
        kv.Put(rpc.PutRequest(key=b"big/%02d" % i, value=b"x" * 90_000))
    requests, responses = open_watch(
        watch, rpc.WatchCreateRequest(key=b"big/", range_end=b"big0", start_revision=1),
        fragment=True)
    got = collect(responses, 20)
    requests.put(None)
    flags = [fragmented(r) for r in got]
    if sum(len(r.events) for r in got) != 20:
        failures.append(f"fragments carried {sum(len(r.events) for r in got)} events")
    if len(got) < 2 or flags[-1] or not all(flags[:-1]):
        failures.append(f"fragment flags {flags}")
    if any(r.ByteSize() >= LIMIT for r in got if len(r.events) > 1):
        failures.append(f"fragment sizes {[r.ByteSize() for r in got]}")

    requests, responses = open_watch(
        watch, rpc.WatchCreateRequest(key=b"quiet", progress_notify=True))
    current = kv.Range(rpc.RangeRequest(key=b"quiet")).header.revision
    notified = None
    for response in responses:
        if response.created:
            watch_id = response.watch_id
            continue
        notified = response
        break
    requests.put(None)
    if notified is None or notified.events or notified.watch_id != watch_id \
            or notified.header.revision != current:
        failures.append(f"progress notification: {notified}")

    print("OK" if not failures else "\n".join(failures))


main()
