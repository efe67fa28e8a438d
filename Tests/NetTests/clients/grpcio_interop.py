"""Python grpcio against the Net gRPC server running the test service
(/test.Echo/* in GRPCTestSupport.swift), with raw bytes and no protobuf.

Usage: grpcio_interop.py PORT. Prints OK, or the first failed check.
"""
import queue
import random
import sys
import time

try:
    import grpc
except ImportError:
    print("grpcio is missing from the venv: run tools/setup")
    sys.exit(2)

TIMEOUT = 10


def expect_error(call, code, *details):
    """`details` lists the texts that may come: client and server race to
    report an expired deadline."""
    try:
        call()
    except grpc.RpcError as error:
        assert error.code() == code, (error.code(), error.details())
        assert error.details() in details, error.details()
    else:
        raise AssertionError(f"expected {code}")


def check_unary(channel):
    echo = channel.unary_unary("/test.Echo/Unary")
    assert echo(b"hello", timeout=TIMEOUT) == b"hello"
    assert echo(b"", timeout=TIMEOUT) == b""
    metadata = (("token", "t0k"), ("authorization", "Bearer x"), ("x-custom", "v"))
    seen = channel.unary_unary("/test.Echo/Metadata")(b"", metadata=metadata, timeout=TIMEOUT)
    assert seen == b"t0k,Bearer x,v", seen


def check_streams(channel):
    expand = channel.unary_stream("/test.Echo/Expand")
    assert list(expand(b"5", timeout=TIMEOUT)) == [b"0", b"1", b"2", b"3", b"4"]
    collect = channel.stream_unary("/test.Echo/Collect")
    assert collect(iter([b"ab", b"c", b"", b"d"]), timeout=TIMEOUT) == b"abcd"
    # Ping-pong: each request is sent only after the previous answer came.
    requests = queue.Queue()
    requests.put(b"m0")
    replies = channel.stream_stream("/test.Echo/Chat")(iter(requests.get, None), timeout=TIMEOUT)
    received = []
    for reply in replies:
        received.append(reply)
        requests.put(f"m{len(received)}".encode() if len(received) < 5 else None)
    assert received == [f"m{i}".encode() for i in range(5)], received
    flood = list(channel.unary_stream("/test.Echo/Flood")(b"64", timeout=TIMEOUT))
    assert len(flood) == 64 and all(len(m) == 64 * 1024 for m in flood)


def check_large_and_many(channel):
    echo = channel.unary_unary("/test.Echo/Unary")
    payload = random.Random(1).randbytes(3 << 20)
    assert echo(payload, timeout=TIMEOUT) == payload
    futures = [echo.future(f"call {i}".encode(), timeout=TIMEOUT) for i in range(500)]
    assert [f.result() for f in futures] == [f"call {i}".encode() for i in range(500)]
    oversized = bytes((4 << 20) + 1)
    expect_error(
        lambda: echo(oversized, timeout=TIMEOUT),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "grpc: received message larger than max (4194305 vs. 4194304)",
    )


def check_errors(channel):
    expect_error(
        lambda: channel.unary_unary("/test.Nope/Unary")(b"", timeout=TIMEOUT),
        grpc.StatusCode.UNIMPLEMENTED,
        "unknown service test.Nope",
    )
    expect_error(
        lambda: channel.unary_unary("/test.Echo/Bar")(b"", timeout=TIMEOUT),
        grpc.StatusCode.UNIMPLEMENTED,
        "unknown method Bar for service test.Echo",
    )
    text = "bad: 100% ünïcode\r\n"
    expect_error(
        lambda: channel.unary_unary("/test.Echo/Fail")(text.encode(), timeout=TIMEOUT),
        grpc.StatusCode.INVALID_ARGUMENT,
        text,
    )


def check_deadline_and_cancel(channel):
    cancelled = channel.unary_unary("/test.Echo/Cancelled")
    hang = channel.unary_unary("/test.Echo/Hang")
    before = int(cancelled(b"", timeout=TIMEOUT))
    expect_error(
        lambda: hang(b"", timeout=0.2),
        grpc.StatusCode.DEADLINE_EXCEEDED,
        "Deadline Exceeded",
        "context deadline exceeded",
    )
    future = hang.future(b"", timeout=TIMEOUT)
    time.sleep(0.2)
    assert future.cancel()
    # Both the expired and the cancelled call must reach the handler's onCancel.
    for _ in range(100):
        if int(cancelled(b"", timeout=TIMEOUT)) >= before + 2:
            return
        time.sleep(0.05)
    raise AssertionError("the handler never saw the cancellation")


def main():
    channel = grpc.insecure_channel(f"127.0.0.1:{sys.argv[1]}")
    grpc.channel_ready_future(channel).result(timeout=TIMEOUT)
    check_unary(channel)
    check_streams(channel)
    check_large_and_many(channel)
    check_errors(channel)
    check_deadline_and_cancel(channel)
    channel.close()
    print("OK")


if __name__ == "__main__":
    main()
