"""Protobuf wire pieces the clients' protos lack: fields newer than etcd3's
generated code go into requests as raw bytes."""


def varint(n):
    out = b""
    while n >= 0x80:
        out += bytes([n & 0x7F | 0x80])
        n >>= 7
    return out + bytes([n])
