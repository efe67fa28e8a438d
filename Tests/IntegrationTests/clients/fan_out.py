"""The v2 long-poll fan-out, driven from its own process: N sockets held by
the test process itself would be inherited by, and have crashed, the
Foundation Process spawns of tests running beside it.
Opens N connections that each wait on /v2/keys/fan, waits until the member
counts N watchers, writes the key once, and reads every answer. Prints
`opened registered answered idle_kib waiting_kib`, the last two the member's
VmRSS before the connections and with all of them waiting.
Usage: fan_out.py PORT MEMBER_PID N"""
import json
import socket
import sys
import time

port, pid, count = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])


def resident_kib():
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def http(method, path, body=""):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        head = f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        if body:
            head += "Content-Type: application/x-www-form-urlencoded\r\n"
        head += f"Content-Length: {len(body)}\r\n\r\n"
        conn.sendall((head + body).encode())
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    return answer.decode(errors="replace").split("\r\n\r\n", 1)[-1]


idle = resident_kib()
sockets = []
for _ in range(count):
    try:
        conn = socket.create_connection(("127.0.0.1", port), timeout=10)
        conn.sendall(b"GET /v2/keys/fan?wait=true HTTP/1.1\r\nHost: x\r\n\r\n")
        sockets.append(conn)
    except OSError:
        break
registered = False
deadline = time.time() + 30
while time.time() < deadline:
    if json.loads(http("GET", "/v2/stats/store")).get("watchers") == count:
        registered = True
        break
    time.sleep(0.2)
waiting = resident_kib()
http("PUT", "/v2/keys/fan", "value=out")
answered = 0
for conn in sockets:
    received = b""
    try:
        while b'"value":"out"' not in received and len(received) < 1 << 20:
            chunk = conn.recv(4096)
            if not chunk:
                break
            received += chunk
    except OSError:
        pass
    answered += b'"value":"out"' in received
    conn.close()
print(len(sockets), int(registered), answered, idle, waiting)
