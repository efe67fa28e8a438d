"""Drives etcd3 (the v3 gRPC Python client) against one etcd member.

Usage: etcd3_check.py HOST PORT

The member must be a fresh single-member cluster named "default". Every
expectation here holds against etcd 3.4.23. Prints "OK" when all hold;
otherwise exits 1 naming the first mismatch.
"""

import sys

import etcd3
import grpc

from checks import expect, fail


def expect_grpc_error(code, details, call, *args):
    try:
        call(*args)
    except grpc.RpcError as error:
        expect(
            error.code() == code and error.details() == details,
            "%s: got %s %r" % (call.__name__, error.code(), error.details()),
        )
        return
    fail("%s: no %s" % (call.__name__, code))


def key_values(client):
    expect(client.put("foo", "bar").header.revision == 2, "put: revision")
    value, meta = client.get("foo")
    expect(value == b"bar", "get: %r" % value)
    expect((meta.key, meta.version, meta.mod_revision) == (b"foo", 1, 2), "get: metadata")
    expect(client.get("missing") == (None, None), "get of a missing key")

    client.put("foo/a", "1")
    client.put("foo/b", "2")
    client.put("fop", "3")
    pairs = [(meta.key, value) for value, meta in client.get_prefix("foo/")]
    expect(pairs == [(b"foo/a", b"1"), (b"foo/b", b"2")], "get_prefix: %r" % pairs)
    pairs = [(meta.key, value) for value, meta in client.get_prefix("foo", sort_order="descend")]
    expect([key for key, _ in pairs] == [b"foo/b", b"foo/a", b"foo"], "descend: %r" % pairs)

    expect(client.delete("foo/a") is True, "delete of a key")
    expect(client.delete("foo/a") is False, "delete of a missing key")
    expect(client.get("foo/a") == (None, None), "get after delete")
    client.delete_prefix("foo/")
    expect(list(client.get_prefix("foo/")) == [], "delete_prefix")


def transactions(client):
    txn = client.transactions
    succeeded, responses = client.transaction(
        compare=[txn.value("foo") == "bar", txn.version("foo") > 0],
        success=[txn.put("foo", "baz"), txn.get("fop")],
        failure=[txn.put("foo", "nope")],
    )
    expect(succeeded, "transaction: compare failed")
    expect(len(responses) == 2, "transaction: %d responses" % len(responses))
    expect(responses[1][0][0] == b"3", "transaction: get in success %r" % responses[1])
    expect(client.get("foo")[0] == b"baz", "transaction: success put")

    succeeded, responses = client.transaction(
        compare=[txn.value("foo") == "bar"],
        success=[txn.put("foo", "nope")],
        failure=[txn.put("fop", "4"), txn.delete("foo")],
    )
    expect(not succeeded, "transaction: compare held")
    expect(client.get("fop")[0] == b"4", "transaction: failure put")
    expect(client.get("foo") == (None, None), "transaction: failure delete")


def members(client, port):
    listed = list(client.members)
    expect(len(listed) == 1, "members: %d" % len(listed))
    member = listed[0]
    expect(member.name == "default", "members: name %r" % member.name)
    expect(member.client_urls == ["http://127.0.0.1:%d" % port], "members: %r" % member.client_urls)
    # Updating the peer URLs to what they are is the one change a lone
    # member can make without losing its quorum.
    client.update_member(member.id, member.peer_urls)
    expect([m.peer_urls for m in client.members] == [member.peer_urls], "update_member")
    expect_grpc_error(
        grpc.StatusCode.NOT_FOUND, "etcdserver: member not found", client.remove_member, 0x1234
    )
    expect_grpc_error(
        grpc.StatusCode.NOT_FOUND,
        "etcdserver: member not found",
        client.update_member,
        0x1234,
        ["http://127.0.0.1:1"],
    )
    status = client.status()
    expect(status.version == "3.4.23", "status: version %r" % status.version)
    expect(status.leader.id == member.id, "status: leader")


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    client = etcd3.client(host=host, port=port, timeout=5)
    key_values(client)
    transactions(client)
    members(client, port)
    client.close()
    print("OK")


main()
