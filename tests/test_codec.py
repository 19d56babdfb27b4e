"""The wire format carries plain data exactly and refuses everything else, both ways."""
import json
import socket
import threading

import numpy as np
import pytest
import torch

from autograder.isolation import codec


def roundtrip(value):
    return codec.decode_value(json.loads(json.dumps(codec.encode_value(value), allow_nan=False)))


def test_plain_data_roundtrips_exactly():
    value = {"a": [1, 2.5, None, True, "s"], "t": (1, (2, 3)), "nan": float("nan"), "inf": float("-inf")}
    back = roundtrip(value)
    assert back["a"] == [1, 2.5, None, True, "s"] and back["t"] == (1, (2, 3))
    assert np.isnan(back["nan"]) and back["inf"] == float("-inf")


@pytest.mark.parametrize("dtype", ["float64", "float32", "int64", "bool", "uint8"])
def test_arrays_keep_dtype_shape_and_bits(dtype):
    array = (np.random.default_rng(0).normal(size=(3, 4, 2)) * 100).astype(dtype)
    back = roundtrip(array)
    assert type(back) is np.ndarray and back.dtype == array.dtype and np.array_equal(back, array)
    assert back.flags.writeable


def test_tensors_come_back_as_tensors_with_requires_grad():
    t = torch.arange(6, dtype=torch.float64).reshape(2, 3).requires_grad_()
    back = roundtrip(t)
    assert type(back) is torch.Tensor and back.requires_grad and torch.equal(back, t.detach())
    assert roundtrip(np.float64(2.5)) == 2.5 and type(roundtrip(np.int64(3))) is int


class Sub(np.ndarray):
    pass


class Liar:
    def __eq__(self, other):
        return True


@pytest.mark.parametrize("value", [
    np.zeros(3).view(Sub), np.array([object()]), Liar(), {1: 2}, {"k": Liar()}, [Liar()],
    torch.nn.Parameter(torch.zeros(2)), np.zeros(2, dtype=complex), lambda: 0, b"bytes",
])
def test_anything_but_plain_data_is_refused(value):
    with pytest.raises(codec.UnsupportedType):
        codec.encode_value(value)


@pytest.mark.parametrize("data", [
    {"__ndarray__": {"dtype": "object", "shape": [1], "data": ""}},
    {"__ndarray__": {"dtype": "float64", "shape": [2], "data": "AAAA"}},
    {"__ndarray__": {"dtype": "float64", "shape": [-1], "data": ""}},
    {"__pickle__": "gASVAAAAAAAAAAB9lC4="},
    {"__tuple__": [1], "extra": 2},
    {"__dict__": [[1, 2]]},
])
def test_forged_messages_are_protocol_errors(data):
    with pytest.raises(codec.ProtocolError):
        codec.decode_value(data)


def test_messages_over_the_limit_or_garbage_are_refused():
    a, b = socket.socketpair()
    a.sendall((10 ** 6).to_bytes(4, "big"))
    with pytest.raises(codec.ProtocolError, match="exceeds"):
        codec.receive(b, limit=1000)
    a.sendall((5).to_bytes(4, "big") + b"{{{{{")
    with pytest.raises(codec.ProtocolError, match="JSON"):
        codec.receive(b)
    a.close()
    with pytest.raises(EOFError):
        codec.receive(b)


def test_a_message_has_one_deadline_however_its_bytes_are_spread(monkeypatch):
    """A child sending one byte every 0.1 s keeps every single read short; the deadline is
    for the whole message (a fake clock: 0.1 s passes at each read)."""
    clock = [0.0]

    class Trickle:
        def __init__(self):
            self.sent = 0

        def settimeout(self, seconds):
            assert seconds > 0

        def recv(self, n):
            clock[0] += 0.1
            self.sent += 1
            return (100).to_bytes(4, "big") if self.sent == 1 else b" "

    monkeypatch.setattr(codec.time, "monotonic", lambda: clock[0])
    trickle = Trickle()
    with pytest.raises(socket.timeout):
        codec.receive(trickle, timeout=0.5)
    assert trickle.sent < 10


def test_a_message_of_millions_of_small_values_is_refused_before_parsing():
    a, b = socket.socketpair()
    payload = b"[" + b"0," * 1_000_000 + b"0]"
    sender = threading.Thread(target=a.sendall, args=(len(payload).to_bytes(4, "big") + payload,))
    sender.start()
    with pytest.raises(codec.ProtocolError, match="values exceeds the limit"):
        codec.receive(b, timeout=5)
    sender.join()
    a.close()
    b.close()


@pytest.mark.parametrize("payload", [
    b"1" * 5000,                                                            # int over 4300 digits
    json.dumps({"__ndarray__": {"dtype": "uint8", "shape": [0] * 100, "data": ""}}).encode(),
    json.dumps({"__ndarray__": {"dtype": "uint8", "shape": [1], "data": "!!"}}).encode(),
])
def test_hostile_but_well_formed_json_is_a_protocol_error(payload):
    a, b = socket.socketpair()
    a.sendall(len(payload).to_bytes(4, "big") + payload)
    with pytest.raises(codec.ProtocolError):
        codec.receive(b)


def test_arrays_in_a_foreign_byte_order_keep_their_values():
    array = np.arange(6, dtype=">f8").reshape(2, 3)
    back = roundtrip(array)
    assert back.dtype == np.float64 and np.array_equal(back, array)
