"""Raw HTTP/1.1 on a socket, for requests no well-behaved client library would send
(broken UTF-8 in headers, a body shorter than its Content-Length, a trickled body)."""

from __future__ import annotations

import asyncio
import gzip
import json
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

from prometheus_client import REGISTRY

Headers = Sequence[tuple[bytes, bytes]]
JSON = ((b"Content-Type", b"application/json"),)
FORM = ((b"Content-Type", b"application/x-www-form-urlencoded"),)
MiB = 1024 * 1024


@dataclass(frozen=True)
class Case:
    name: str
    raw: bytes
    expect: frozenset[int | None]  # None: the server closed without an answer
    half_close: bool = False  # shut our write side after sending (a truncated body)


def request(
    method: bytes,
    path: bytes,
    body: bytes = b"",
    headers: Headers = JSON,
    *,
    length: int | None = None,
    chunked: bool = False,
) -> bytes:
    lines = [method + b" " + path + b" HTTP/1.1", b"Host: 127.0.0.1", b"Connection: close"]
    lines += [name + b": " + value for name, value in headers]
    if chunked:
        lines.append(b"Transfer-Encoding: chunked")
        framed = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in _chunks(body)) + b"0\r\n\r\n"
    else:
        lines.append(b"Content-Length: %d" % (len(body) if length is None else length))
        framed = body
    return b"\r\n".join(lines) + b"\r\n\r\n" + framed


def _chunks(body: bytes, size: int = 65536) -> list[bytes]:
    return [body[i : i + size] for i in range(0, len(body), size)]


async def exchange(port: int, raw: bytes, *, half_close: bool = False) -> int | None:
    """Send `raw`, return the answer's status (None when the server closed without one)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        await writer.drain()
        if half_close:
            writer.write_eof()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    finally:
        writer.close()
    return int(head.split(b" ", 2)[1])


def refused_total(surface: str) -> float:
    """m365sync_refused_requests_total summed over reasons for one surface."""
    total = 0.0
    for metric in REGISTRY.collect():
        if metric.name == "m365sync_refused_requests":
            for sample in metric.samples:
                if sample.name.endswith("_total") and sample.labels.get("surface") == surface:
                    total += sample.value
    return total


def gzip_bomb(size: int = 64 * MiB) -> bytes:
    """About 64 KiB on the wire that inflate to `size` bytes of JSON-looking spaces."""
    return gzip.compress(b'{"value": [' + b" " * size + b"]}", compresslevel=9)


def deflate(body: bytes) -> bytes:
    return zlib.compress(body)


def nested(depth: int) -> bytes:
    return b'{"value": ' + b"[" * depth + b"]" * depth + b"}"


def dumps(value: object) -> bytes:
    return json.dumps(value).encode()
