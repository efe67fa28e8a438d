"""Drives python-etcd (the v2 client) against one etcd member.

Usage: python_etcd_check.py HOST PORT

The member must be a fresh single-member cluster named "default". Every
expectation here holds against etcd 3.4.23 started with --enable-v2. Prints
"OK" when all hold; otherwise exits 1 naming the first mismatch.
"""

import re
import sys
import threading
import time

import etcd

from checks import expect, fail


def expect_raises(exception, message, call, *args, **kwargs):
    try:
        call(*args, **kwargs)
    except exception:
        return
    except Exception as other:
        fail("%s: raised %r instead of %s" % (message, other, exception.__name__))
    fail("%s: no %s" % (message, exception.__name__))


def write_after(client, delay, key, value):
    def run():
        time.sleep(delay)
        client.write(key, value)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def keys_and_values(client):
    written = client.write("/py/a", "one")
    expect(written.action == "set" and written.value == "one", "set: %r" % written)
    expect(written.newKey, "a first set answers 201 Created")
    expect(written.etcd_index >= written.modifiedIndex > 0, "X-Etcd-Index header: %r" % written)
    expect(client.expected_cluster_id, "X-Etcd-Cluster-ID header missing")
    read = client.read("/py/a")
    expect(read.value == "one" and read.modifiedIndex == written.modifiedIndex, "get: %r" % read)
    expect(client.get("/py/a").value == "one", "get()")
    expect("/py/a" in client and "/py/nope" not in client, "__contains__")
    expect_raises(etcd.EtcdKeyNotFound, "read of a missing key", client.read, "/py/missing")

    updated = client.update(read)
    expect(updated.action == "compareAndSwap", "update() swaps on prevIndex: %r" % updated)


def ttls(client):
    written = client.write("/py/ttl", "soon", ttl=30)
    expect(written.ttl == 30 and written.expiration, "ttl on set: %r" % written)
    read = client.read("/py/ttl")
    expect(0 < read.ttl <= 30, "ttl on get: %r" % read)
    refreshed = client.refresh("/py/ttl", ttl=60)
    expect(refreshed.ttl == 60 and refreshed.value == "soon", "refresh: %r" % refreshed)


def compare_and_swap(client):
    swapped = client.test_and_set("/py/a", "two", "one")
    expect(swapped.action == "compareAndSwap" and swapped.value == "two", "CAS: %r" % swapped)
    expect(swapped._prev_node.value == "one", "CAS prevNode: %r" % swapped._prev_node)
    expect_raises(
        etcd.EtcdCompareFailed, "CAS on a stale value", client.test_and_set, "/py/a", "3", "one"
    )
    expect_raises(
        etcd.EtcdCompareFailed,
        "CAS on a stale index",
        client.write,
        "/py/a",
        "3",
        prevIndex=swapped.modifiedIndex - 1,
    )
    expect(client.read("/py/a").value == "two", "failed CAS wrote nothing")

    expect_raises(
        etcd.EtcdAlreadyExist, "create of an existing key", client.write, "/py/a", "x",
        prevExist=False,
    )
    created = client.write("/py/new", "fresh", prevExist=False)
    expect(created.action == "create" and created.newKey, "create: %r" % created)
    expect_raises(
        etcd.EtcdKeyNotFound, "update of a missing key", client.write, "/py/none", "x",
        prevExist=True,
    )


def directories(client):
    made = client.write("/py/dir", None, dir=True)
    expect(made.dir and made.action == "set", "mkdir: %r" % made)
    client.write("/py/dir/x", "X")
    client.write("/py/dir/sub/y", "Y")
    tree = client.read("/py/dir", recursive=True)
    leaves = {leaf.key: leaf.value for leaf in tree.leaves}
    expect(leaves == {"/py/dir/x": "X", "/py/dir/sub/y": "Y"}, "recursive get: %r" % leaves)
    children = sorted(leaf.key for leaf in tree.children)
    expect(children == ["/py/dir/sub/y", "/py/dir/x"], "children: %r" % children)
    listing = client.read("/py/dir")
    direct = sorted((node["key"], node.get("dir", False)) for node in listing._children)
    expect(direct == [("/py/dir/sub", True), ("/py/dir/x", False)], "listing: %r" % direct)

    expect_raises(etcd.EtcdNotFile, "a value on a dir", client.write, "/py/dir", "v")
    expect_raises(etcd.EtcdNotDir, "a key under a value", client.write, "/py/a/under", "v")
    expect_raises(
        etcd.EtcdDirNotEmpty, "rmdir of a full dir", client.delete, "/py/dir", dir=True
    )
    expect_raises(etcd.EtcdRootReadOnly, "root is read only", client.write, "/", "v")


def deletes(client):
    deleted = client.delete("/py/a")
    expect(deleted.action == "delete", "delete: %r" % deleted)
    expect(deleted._prev_node.value == "two", "delete prevNode: %r" % deleted._prev_node)
    expect_raises(etcd.EtcdKeyNotFound, "read after delete", client.read, "/py/a")
    expect(client.pop("/py/new").value == "fresh", "pop")
    gone = client.delete("/py/dir", recursive=True)
    expect(gone.action == "delete" and gone.dir, "recursive delete: %r" % gone)
    expect_raises(etcd.EtcdKeyNotFound, "read of a deleted dir", client.read, "/py/dir/x")


def in_order_keys(client):
    first = client.write("/py/queue", "job1", append=True)
    second = client.write("/py/queue", "job2", append=True)
    for node in (first, second):
        expect(node.action == "create", "append action: %r" % node)
        expect(re.fullmatch(r"/py/queue/\d{20}", node.key), "in-order key name: %s" % node.key)
    expect(first.key < second.key, "in-order keys grow: %s %s" % (first.key, second.key))
    queue = client.read("/py/queue", sorted=True)
    expect([leaf.value for leaf in queue.leaves] == ["job1", "job2"], "queue order")


def watches(client):
    past = client.write("/py/w", "v1")
    historic = client.watch("/py/w", index=past.modifiedIndex, timeout=5)
    expect(historic.value == "v1", "watch from a past index: %r" % historic)

    writer = write_after(client, 0.3, "/py/w", "v2")
    event = client.watch("/py/w", index=past.modifiedIndex + 1, timeout=10)
    writer.join()
    expect(event.action == "set" and event.value == "v2", "blocking watch: %r" % event)
    expect(event._prev_node.value == "v1", "watch prevNode: %r" % event._prev_node)

    writer = write_after(client, 0.3, "/py/wd/child", "c")
    event = client.watch("/py/wd", recursive=True, timeout=10)
    writer.join()
    expect(event.key == "/py/wd/child" and event.value == "c", "recursive watch: %r" % event)

    expect_raises(etcd.EtcdWatchTimedOut, "idle watch", client.watch, "/py/idle", timeout=0.5)


def cluster(client, endpoint):
    members = client.members
    expect(len(members) == 1, "members: %r" % members)
    (member,) = members.values()
    expect(member["name"] == "default" and member["clientURLs"] == [endpoint], "member: %r" % member)
    expect(client.leader["id"] == member["id"], "leader: %r" % client.leader)
    expect(client.machines == [endpoint], "machines: %r" % client.machines)
    stats = client.stats
    expect(stats["state"] == "StateLeader" and stats["id"] == member["id"], "stats: %r" % stats)
    expect(client.leader_stats["leader"] == member["id"], "leader stats: %r" % client.leader_stats)
    store = client.store_stats
    expect(store["setsSuccess"] > 0 and "watchers" in store, "store stats: %r" % store)
    expect(client.version.startswith("3.4."), "version: %s" % client.version)
    expect(client.cluster_version == "3.4.0", "cluster version: %s" % client.cluster_version)


def main():
    if len(sys.argv) != 3:
        fail("usage: python_etcd_check.py HOST PORT")
    host, port = sys.argv[1], int(sys.argv[2])
    client = etcd.Client(host=host, port=port, read_timeout=10)
    keys_and_values(client)
    ttls(client)
    compare_and_swap(client)
    directories(client)
    deletes(client)
    in_order_keys(client)
    watches(client)
    cluster(client, "http://%s:%d" % (host, port))
    reconnecting = etcd.Client(host=host, port=port, allow_reconnect=True, read_timeout=10)
    expect(reconnecting.read("/py/w").value == "v2", "a client that lists machines first")
    print("OK")


if __name__ == "__main__":
    main()
