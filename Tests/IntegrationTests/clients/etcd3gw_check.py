"""Drives etcd3gw (the Python client of etcd's /v3 JSON gateway) against one
etcd member.

Usage: etcd3gw_check.py HOST PORT

The member must be a fresh single-member cluster named "default". Every
expectation here holds against etcd 3.4.23. Prints "OK" when all hold;
otherwise exits 1 naming the first mismatch.
"""

import sys
import threading

import etcd3gw
from etcd3gw import exceptions

from checks import expect, fail


def key_values(client):
    expect(client.api_path.endswith("/v3/"), "api path: %s" % client.api_path)
    expect(client.put("foo", "bar"), "put")
    expect(client.get("foo") == [b"bar"], "get: %r" % client.get("foo"))
    expect(client.get("missing") == [], "get missing")
    for key in ["pre/a", "pre/b", "pre/c"]:
        client.put(key, key.upper())
    listed = client.get_prefix("pre/", sort_order="descend", sort_target="key")
    expect(
        [value for value, _ in listed] == [b"PRE/C", b"PRE/B", b"PRE/A"], "get_prefix: %r" % listed
    )
    meta = listed[0][1]
    expect(meta["key"] == b"pre/c" and meta["version"] == "1", "metadata: %r" % meta)
    expect(client.create("foo", "other") is False, "create of an existing key")
    expect(client.create("fresh", "1") is True, "create of a new key")
    expect(client.replace("foo", "bar", "baz") is True, "replace with the right value")
    expect(client.replace("foo", "bar", "qux") is False, "replace with a stale value")
    expect(client.get("foo") == [b"baz"], "after replace")
    expect(client.delete("foo") is True, "delete")
    expect(client.delete("foo") is False, "delete of a deleted key")
    expect(client.delete_prefix("pre/") is True, "delete_prefix")
    expect(client.get_prefix("pre/") == [], "after delete_prefix")


def leases(client):
    lease = client.lease(ttl=60)
    expect(lease.id > 0, "lease id")
    client.put("leased", "v", lease=lease)
    expect(lease.keys() == [b"leased"], "lease keys: %r" % lease.keys())
    expect(lease.refresh() == 60, "refresh")
    expect(0 < lease.ttl() <= 60, "ttl: %r" % lease.ttl())
    expect(lease.revoke() is True, "revoke")
    expect(client.get("leased") == [], "a revoked lease's key is gone")
    expect(lease.ttl() == -1, "ttl of a revoked lease: %r" % lease.ttl())


def watches(client):
    events, cancel = client.watch("watched")
    seen = []

    def read():
        for event in events:
            seen.append(event)
            if len(seen) == 2:
                break

    reader = threading.Thread(target=read)
    reader.start()
    # The watch is registered once its stream is answered.
    for _ in range(50):
        if client.status():
            break
    threading.Event().wait(0.5)
    client.put("watched", "1")
    client.delete("watched")
    reader.join(10)
    cancel()
    expect(len(seen) == 2, "watch events: %r" % seen)
    expect(seen[0]["kv"]["value"] == b"1" and seen[0].get("type") is None, "put: %r" % seen[0])
    expect(seen[1]["type"] == "DELETE", "delete: %r" % seen[1])


def locks(client):
    lock = client.lock("resource", ttl=30)
    expect(lock.acquire() is True, "acquire")
    expect(lock.is_acquired() is True, "is_acquired")
    other = client.lock("resource", ttl=30)
    expect(other.acquire() is False, "a second holder")
    expect(lock.release() is True, "release")
    expect(other.acquire() is True, "acquire after release")
    other.release()


def cluster(client):
    members = client.members()
    expect(len(members) == 1 and members[0]["name"] == "default", "members: %r" % members)
    status = client.status()
    expect(status["version"] == "3.4.23", "status: %r" % status)
    expect(status["leader"] == members[0]["ID"], "leader: %r" % status)


def errors(client):
    try:
        client.post(client.get_url("/kv/range"), json={"key": ""})
    except exceptions.Etcd3Exception as error:
        expect("etcdserver: key is not provided" in error.detail_text, "empty key: %r" % error)
    else:
        fail("an empty key is accepted")
    try:
        client.post(client.get_url("/kv/nope"), json={})
    except exceptions.Etcd3Exception as error:
        expect(error.detail_text == "Not Found\n", "unknown path: %r" % error.detail_text)
    else:
        fail("an unknown path is answered")


client = etcd3gw.client(host=sys.argv[1], port=int(sys.argv[2]), timeout=10)
key_values(client)
leases(client)
watches(client)
locks(client)
cluster(client)
errors(client)
print("OK")
