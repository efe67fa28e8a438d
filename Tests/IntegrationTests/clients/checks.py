"""What the client check scripts share: a failed expectation prints
"FAIL: <message>" and exits 1, so the Swift test shows which one failed."""

import sys


def fail(message):
    print("FAIL: " + message)
    sys.exit(1)


def expect(condition, message):
    if not condition:
        fail(message)
