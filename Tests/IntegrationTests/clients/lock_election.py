"""Drives the Lock and Election services through etcd's /v3 JSON gateway and
prints what happened, one line per step, with what differs between two
correct servers (lease IDs, member and cluster IDs, terms) left out. Run
against a fresh etcd 3.4.23 and a fresh swetcd, the two outputs must be
equal.

Usage: lock_election.py HOST PORT
"""

import base64
import json
import sys
import threading
import time
import urllib.error
import urllib.request

BASE = "http://%s:%s/v3/" % (sys.argv[1], sys.argv[2])
leases = {}


def b64(text):
    return base64.b64encode(text.encode()).decode()


def text(value):
    return base64.b64decode(value).decode() if value else ""


def post(path, body, timeout=10):
    request = urllib.request.Request(BASE + path, data=json.dumps(body).encode(), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def key_name(key):
    """A recipe key, `<name>/<lease in hex>`, with the lease named."""
    name, _, lease = text(key).rpartition("/")
    return name + "/" + leases.get(int(lease, 16), "lease?")


def shown(status, answer):
    if "error" in answer:
        return "%d %s (code %d)" % (status, answer["error"], answer["code"])
    parts = ["%d rev=%s" % (status, answer.get("header", {}).get("revision", "-"))]
    if "key" in answer:
        parts.append("key=" + key_name(answer["key"]))
    if "leader" in answer:
        leader = answer["leader"]
        parts.append("leader=%s rev=%s" % (key_name(leader["key"]), leader.get("rev")))
    if "kv" in answer:
        parts.append("kv=%s:%s" % (key_name(answer["kv"]["key"]), text(answer["kv"].get("value"))))
    return " ".join(parts)


def step(name, path, body, timeout=10):
    print(name + ": " + shown(*post(path, body, timeout)))


def grant(label):
    _, answer = post("lease/grant", {"TTL": 60})
    leases[int(answer["ID"])] = label
    return answer["ID"]


def observe(lines):
    request = urllib.request.Request(
        BASE + "election/observe", data=json.dumps({"name": b64("e")}).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=20) as stream:
        while True:
            line = stream.readline()
            if not line:
                break
            result = json.loads(line)["result"]
            lines.append("observed %s:%s" % (key_name(result["kv"]["key"]), text(result["kv"]["value"])))


one, two, three = grant("one"), grant("two"), grant("three")

# Lock: an uncontended lock, a waiter that gets it once the first unlocks,
# a lease that does not exist, an unlock of a key that is not there.
step("lock one", "lock/lock", {"name": b64("l"), "lease": one})
waiter = []
thread = threading.Thread(
    target=lambda: waiter.append(post("lock/lock", {"name": b64("l"), "lease": two})))
thread.start()
time.sleep(1)
print("waiter still waiting: %s" % (thread.is_alive()))
step("unlock one", "lock/unlock", {"key": b64("l/%x" % int(one))})
thread.join(10)
print("lock two: " + (shown(*waiter[0]) if waiter else "no answer"))
# A waiter whose client gives up takes its key away.
try:
    post("lock/lock", {"name": b64("l"), "lease": three}, timeout=1)
    print("a waiter was given the lock")
except OSError:
    pass
for _ in range(50):
    _, holders = post("kv/range", {"key": b64("l/"), "range_end": b64("l0"), "count_only": True})
    if holders.get("count") == "1":
        break
    time.sleep(0.1)
print("lock keys after a waiter gave up: %s" % holders.get("count"))
step("lock with a missing lease", "lock/lock", {"name": b64("l"), "lease": "12345"})
step("unlock a missing key", "lock/unlock", {"key": b64("nothing")})
step("unlock with no key", "lock/unlock", {})

# Election: a leader, a value proclaimed, a second candidate that waits,
# an observer, resignation, and the refusals.
step("leader of nobody", "election/leader", {"name": b64("e")})
status, first = post("election/campaign", {"name": b64("e"), "lease": one, "value": b64("v1")})
print("campaign one: " + shown(status, first))
step("leader", "election/leader", {"name": b64("e")})
leader = first["leader"]
# The observer runs until the script ends (a daemon thread). It starts with
# the leader there is, and watches from the revision it read, so what it
# sees next does not depend on when its watch is registered.
observed = []
observer = threading.Thread(target=observe, args=(observed,), daemon=True)
observer.start()
for _ in range(50):
    if observed:
        break
    time.sleep(0.1)
step("proclaim", "election/proclaim", {"leader": leader, "value": b64("v1b")})
step("campaign one again, same value", "election/campaign",
     {"name": b64("e"), "lease": one, "value": b64("v1b")})
second = []
candidate = threading.Thread(
    target=lambda: second.append(
        post("election/campaign", {"name": b64("e"), "lease": two, "value": b64("v2")})))
candidate.start()
time.sleep(1)
print("second candidate waiting: %s" % candidate.is_alive())
step("resign", "election/resign", {"leader": leader})
candidate.join(10)
print("campaign two: " + (shown(*second[0]) if second else "no answer"))
step("leader after", "election/leader", {"name": b64("e")})
step("proclaim by the old leader", "election/proclaim", {"leader": leader, "value": b64("x")})
step("proclaim with no leader", "election/proclaim", {"value": b64("x")})
step("resign with no leader", "election/resign", {})
step("resign of the old leader again", "election/resign", {"leader": leader})
for _ in range(50):
    if len(observed) >= 3:
        break
    time.sleep(0.1)
for line in observed:
    print(line)
