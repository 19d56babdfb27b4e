"""The wire format between the grader and a sandboxed child: JSON that cannot execute code.

Only plain data crosses: None, bools, Python numbers, strings, lists, tuples, dicts with string
keys, and numpy arrays / torch tensors of a numeric dtype (their bytes in base64). Encoding
accepts only the exact types (no subclasses, no object dtype, nothing with a custom __array__);
anything else raises UnsupportedType, which the child reports as "unsupported return type".
Decoding, on the grader's side, re-validates everything: a lying child can send wrong numbers,
never an object of its choosing.

A message on the socket is a 4-byte big-endian length followed by that many bytes of JSON, at
most MAX_MESSAGE_BYTES (about 25 times the largest message of a real grading run: a child
cannot make the grader parse gigabytes) holding at most MAX_SEPARATORS JSON separators (arrays
travel as one base64 string, so real messages hold few values, while 32 MiB of "[0," would
make the parser build millions of objects), read against one deadline for the whole message (a
child cannot hold the grader by trickling bytes).
"""
from __future__ import annotations

import base64
import json
import math
import socket
import struct
import time

import numpy as np

#: dtypes that may cross the boundary (numpy names; torch tensors are sent through numpy).
ALLOWED_DTYPES = frozenset({
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float16", "float32", "float64",
})
MAX_MESSAGE_BYTES = 32 * 1024 * 1024
MAX_SEPARATORS = 200_000   # "," "[" "{" ":" in one message: bounds the values json.loads builds
MAX_DEPTH = 32
_NUMPY_SCALARS = {np.bool_: bool, np.float16: float, np.float32: float, np.float64: float,
                  np.int8: int, np.int16: int, np.int32: int, np.int64: int,
                  np.uint8: int, np.uint16: int, np.uint32: int, np.uint64: int}


class UnsupportedType(TypeError):
    """A value of a type that may not cross the boundary."""


class ProtocolError(ValueError):
    """A message that is not well-formed: too large, truncated, or not valid data."""


def _torch():
    import torch
    return torch


def encode_value(value, depth: int = 0):
    """Turn a value into JSON-ready data; raise UnsupportedType for anything not plain."""
    if depth > MAX_DEPTH:
        raise UnsupportedType("nesting deeper than %d levels" % MAX_DEPTH)
    kind = type(value)
    if value is None or kind in (bool, int, str):
        return value
    if kind is float:
        return value if math.isfinite(value) else {"__float__": repr(value)}
    if kind in _NUMPY_SCALARS:
        return encode_value(_NUMPY_SCALARS[kind](value), depth)
    if kind is list:
        return [encode_value(v, depth + 1) for v in value]
    if kind is tuple:
        return {"__tuple__": [encode_value(v, depth + 1) for v in value]}
    if kind is dict:
        if not all(type(k) is str for k in value):
            raise UnsupportedType("dict with non-string keys")
        return {"__dict__": [[k, encode_value(v, depth + 1)] for k, v in value.items()]}
    if kind is np.ndarray:
        return {"__ndarray__": _encode_array(value)}
    torch = _torch()
    if kind is torch.Tensor:
        if value.layout is not torch.strided or value.is_complex() or value.device.type != "cpu":
            raise UnsupportedType(f"tensor of layout {value.layout}, dtype {value.dtype}")
        data = _encode_array(value.detach().contiguous().numpy())
        data["requires_grad"] = bool(value.requires_grad)
        return {"__tensor__": data}
    raise UnsupportedType(f"{kind.__module__}.{kind.__qualname__}")


def _encode_array(array: np.ndarray) -> dict:
    if array.dtype.name not in ALLOWED_DTYPES or array.dtype.hasobject:
        raise UnsupportedType(f"array of dtype {array.dtype}")
    # native byte order: the receiver reads the bytes as native ('>f8' is also "float64")
    contiguous = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("="))
    return {"dtype": array.dtype.name, "shape": list(array.shape),
            "data": base64.b64encode(contiguous.tobytes()).decode("ascii")}


def decode_value(data, depth: int = 0):
    """Rebuild a value from JSON data, validating every field; raise ProtocolError otherwise."""
    if depth > MAX_DEPTH:
        raise ProtocolError("nesting too deep")
    if data is None or type(data) in (bool, int, float, str):
        return data
    if type(data) is list:
        return [decode_value(v, depth + 1) for v in data]
    if type(data) is not dict or len(data) != 1:
        raise ProtocolError("malformed value")
    (tag, body), = data.items()
    if tag == "__float__" and body in ("nan", "inf", "-inf"):
        return float(body)
    if tag == "__tuple__" and type(body) is list:
        return tuple(decode_value(v, depth + 1) for v in body)
    if tag == "__dict__" and type(body) is list:
        out = {}
        for pair in body:
            if type(pair) is not list or len(pair) != 2 or type(pair[0]) is not str:
                raise ProtocolError("malformed dict entry")
            out[pair[0]] = decode_value(pair[1], depth + 1)
        return out
    if tag == "__ndarray__":
        return _decode_array(body)
    if tag == "__tensor__":
        tensor = _torch().from_numpy(_decode_array(body))
        if body.get("requires_grad") is True and tensor.is_floating_point():
            tensor.requires_grad_(True)
        return tensor
    raise ProtocolError(f"unknown tag {tag!r}")


def _decode_array(body) -> np.ndarray:
    if type(body) is not dict:
        raise ProtocolError("malformed array")
    dtype, shape, payload = body.get("dtype"), body.get("shape"), body.get("data")
    if dtype not in ALLOWED_DTYPES:
        raise ProtocolError(f"dtype {dtype!r} may not cross the boundary")
    if type(shape) is not list or not all(type(n) is int and n >= 0 for n in shape):
        raise ProtocolError("malformed shape")
    if type(payload) is not str:
        raise ProtocolError("malformed array data")
    try:
        raw = base64.b64decode(payload, validate=True)
    except ValueError:
        raise ProtocolError("malformed array data") from None
    expected = math.prod(shape) * np.dtype(dtype).itemsize
    if len(raw) != expected:
        raise ProtocolError(f"array data holds {len(raw)} bytes, shape {shape} needs {expected}")
    try:   # numpy refuses some shapes an empty payload allows: too many or too large dimensions
        return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
    except ValueError as error:
        raise ProtocolError(f"shape {shape[:8]}: {error}") from None


def send(sock: socket.socket, message) -> None:
    """Encode and send one message (a value made of plain data)."""
    payload = json.dumps(encode_value(message), allow_nan=False).encode("utf-8")
    sock.sendall(struct.pack(">I", len(payload)) + payload)


def receive(sock: socket.socket, limit: int = MAX_MESSAGE_BYTES, timeout: float | None = None):
    """Receive and decode one message; EOFError when the peer closed the connection.

    With `timeout`, the whole message must arrive within that many seconds (socket.timeout
    otherwise), however the sender spreads its bytes.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    (length,) = struct.unpack(">I", _read_exactly(sock, 4, deadline))
    if length > limit:
        raise ProtocolError(f"message of {length} bytes exceeds the limit of {limit}")
    payload = _read_exactly(sock, length, deadline)
    separators = sum(payload.count(c) for c in (b",", b"[", b"{", b":"))
    if separators > MAX_SEPARATORS:
        raise ProtocolError(f"a message of {separators} values exceeds the limit of "
                            f"{MAX_SEPARATORS}")
    try:
        data = json.loads(payload.decode("utf-8"))
    except (ValueError, RecursionError) as error:   # bad UTF-8 or JSON, an int of 5000 digits
        raise ProtocolError(f"not valid JSON: {str(error)[:200]}") from None
    return decode_value(data)


def _read_exactly(sock: socket.socket, n: int, deadline: float | None = None) -> bytes:
    chunks, remaining = [], n
    while remaining:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("the message did not arrive in time")
            sock.settimeout(left)
        chunk = sock.recv(min(remaining, 1 << 20))
        if not chunk:
            raise EOFError("the other side closed the connection")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)
