"""Maintenance.Alarm over raw gRPC (etcd3's generated stubs): raises and
clears CORRUPT and NOSPACE for made-up member IDs and prints what every
request answers while each is active, one line per request. AlarmTests
runs it against etcd 3.4.23 and swetcd and compares the outputs.

usage: alarm_rpc.py HOST PORT
"""

import sys

import grpc
from etcd3.etcdrpc import rpc_pb2 as pb
from etcd3.etcdrpc import rpc_pb2_grpc as stubs

channel = grpc.insecure_channel("%s:%s" % (sys.argv[1], sys.argv[2]))
kv = stubs.KVStub(channel)
lease = stubs.LeaseStub(channel)
maintenance = stubs.MaintenanceStub(channel)
NAMES = {pb.NONE: "NONE", pb.NOSPACE: "NOSPACE", pb.CORRUPT: "CORRUPT"}


def show(label, call):
    try:
        response = call()
    except grpc.RpcError as error:
        print("%s: %s %s" % (label, error.code().name, error.details()))
        return
    if isinstance(response, pb.AlarmResponse):
        # etcd keeps alarms in a Go map: their order is not part of the answer.
        alarms = sorted((a.memberID, NAMES[a.alarm]) for a in response.alarms)
        print("%s: %s header=%s" % (label, alarms, response.HasField("header")))
    else:
        print("%s: ok" % label)


def alarm(action, member, kind):
    request = pb.AlarmRequest(action=action, memberID=member, alarm=kind)
    return lambda: maintenance.Alarm(request, timeout=5)


def put(key):
    return lambda: kv.Put(pb.PutRequest(key=key, value=b"v"), timeout=5)


def txn(success, failure):
    return lambda: kv.Txn(pb.TxnRequest(success=success, failure=failure), timeout=5)


READ = pb.RequestOp(request_range=pb.RangeRequest(key=b"a"))
WRITE = pb.RequestOp(request_put=pb.PutRequest(key=b"t", value=b"v"))
NESTED_READ = pb.RequestOp(request_txn=pb.TxnRequest(success=[READ]))


def writes(prefix):
    show(prefix + " put", put(b"a"))
    show(prefix + " range", lambda: kv.Range(pb.RangeRequest(key=b"a"), timeout=5))
    show(prefix + " delete", lambda: kv.DeleteRange(pb.DeleteRangeRequest(key=b"zz"), timeout=5))
    show(prefix + " txn reads", txn([READ], [READ]))
    show(prefix + " txn nested reads", txn([NESTED_READ], []))
    show(prefix + " txn put on failure", txn([READ], [WRITE]))
    show(prefix + " lease grant", lambda: lease.LeaseGrant(pb.LeaseGrantRequest(TTL=60), timeout=5))
    show(prefix + " lease revoke", lambda: lease.LeaseRevoke(pb.LeaseRevokeRequest(ID=77), timeout=5))
    show(prefix + " compact", lambda: kv.Compact(pb.CompactionRequest(revision=1), timeout=5))


show("put", put(b"a"))
show("get", alarm(pb.AlarmRequest.GET, 0, pb.NONE))
show("activate corrupt", alarm(pb.AlarmRequest.ACTIVATE, 1234, pb.CORRUPT))
show("activate corrupt again", alarm(pb.AlarmRequest.ACTIVATE, 1234, pb.CORRUPT))
writes("corrupt:")
show("get corrupt", alarm(pb.AlarmRequest.GET, 0, pb.CORRUPT))
show("get nospace", alarm(pb.AlarmRequest.GET, 0, pb.NOSPACE))
show("deactivate corrupt", alarm(pb.AlarmRequest.DEACTIVATE, 1234, pb.CORRUPT))
show("deactivate corrupt again", alarm(pb.AlarmRequest.DEACTIVATE, 1234, pb.CORRUPT))
show("activate nospace", alarm(pb.AlarmRequest.ACTIVATE, 5678, pb.NOSPACE))
show("activate nospace for another", alarm(pb.AlarmRequest.ACTIVATE, 9, pb.NOSPACE))
show("get for a member", alarm(pb.AlarmRequest.GET, 5678, pb.NONE))
writes("nospace:")
show("deactivate one", alarm(pb.AlarmRequest.DEACTIVATE, 5678, pb.NOSPACE))
show("still one", put(b"a"))
show("deactivate other", alarm(pb.AlarmRequest.DEACTIVATE, 9, pb.NOSPACE))
writes("none:")
show("get", alarm(pb.AlarmRequest.GET, 0, pb.NONE))
