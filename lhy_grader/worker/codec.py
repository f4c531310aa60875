"""The wire format between the grader and its worker: JSON plus raw array bytes.

Nothing here executes code while decoding: a message is a length-prefixed JSON
header followed by raw buffers, and every array is rebuilt with ``np.frombuffer``
from an allow-listed dtype after its size has been checked. The grader decodes
what the worker sends into *plain* ``np.ndarray``/``torch.Tensor``/Python values,
so a subclass or an object with a lying ``__eq__`` cannot cross.

A value is encoded as a tree of JSON primitives and tagged dicts::

    {"t": "tuple" | "list", "v": [...]}          {"t": "dict", "v": [[k, v], ...]}
    {"t": "nd", "b": i, "dtype": "float64", "shape": [...]}
    {"t": "pt", "b": i, "dtype": ..., "shape": ..., "device": "cpu", "rg": false}
    {"t": "npscalar", "dtype": ..., "v": ...}     {"t": "float", "v": "nan" | "inf" | "-inf"}
    {"t": "opaque", "id": n, "type": "Cache"}     (an object kept in the worker)
    {"t": "rng", "kind": "numpy" | "torch" | "python", "seed": n}
    {"t": "callback", "id": n}                    (calls back into the grader)
"""

from __future__ import annotations

import json
import math
import os
import re
import struct
import sys
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

ALLOWED_DTYPES = (
    "float16", "float32", "float64",
    "int8", "int16", "int32", "int64", "uint8", "bool",
)
MAX_HEADER_BYTES = 64 << 20
MAX_MESSAGE_BYTES = 1 << 30
MAX_DEPTH = 32
MAX_NODES = 1_000_000


class ProtocolError(Exception):
    """A message that is malformed, too large, or holds a value we refuse to decode."""


class EncodeError(Exception):
    """A value that has no wire form (raised on the sending side)."""


# ---------------------------------------------------------------------------
# Markers the grader puts into arguments.

@dataclass(frozen=True)
class Opaque:
    """An object that stays in the worker (e.g. a student's ``cache``); pass it back as an argument."""
    id: int
    type_name: str


@dataclass(frozen=True)
class RngSpec:
    """Asks the worker to build a fresh generator: ``np.random.default_rng(seed)``,
    ``torch.Generator().manual_seed(seed)`` or ``random.Random(seed)``."""
    kind: str
    seed: int


# ---------------------------------------------------------------------------
# Framing: [u32 header length][header JSON][blob 0][blob 1]...

_LEN = struct.Struct("<I")


def frame(header: dict, blobs: list[bytes]) -> bytes:
    header = dict(header, blobs=[len(b) for b in blobs])
    raw = json.dumps(header, separators=(",", ":")).encode()
    return b"".join([_LEN.pack(len(raw)), raw, *blobs])


def read_exact(fd: int, n: int) -> bytes:
    chunks, got = [], 0
    while got < n:
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            raise EOFError("the other side closed the channel")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def read_message(fd: int) -> tuple[dict, list[memoryview]]:
    (n,) = _LEN.unpack(read_exact(fd, _LEN.size))
    if n > MAX_HEADER_BYTES:
        raise ProtocolError(f"header of {n} bytes is too large")
    try:
        header = json.loads(read_exact(fd, n))
    except ValueError as e:
        raise ProtocolError(f"header is not JSON: {e}") from None
    if not isinstance(header, dict):
        raise ProtocolError("header is not a JSON object")
    sizes = header.get("blobs", [])
    if not isinstance(sizes, list) or not all(type(s) is int and s >= 0 for s in sizes):
        raise ProtocolError("bad blob table")
    if sum(sizes) > MAX_MESSAGE_BYTES:
        raise ProtocolError("message is too large")
    data = memoryview(read_exact(fd, sum(sizes))) if sizes else memoryview(b"")
    blobs, at = [], 0
    for s in sizes:
        blobs.append(data[at:at + s])
        at += s
    return header, blobs


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


# ---------------------------------------------------------------------------
# Encoding (either side).

def _torch():
    import torch
    return torch


def encode(value: Any, blobs: list[bytes], keep: Callable[[Any], int] | None = None,
           callbacks: Callable[[Any], int] | None = None) -> Any:
    """Encode ``value`` into a JSON tree, appending raw buffers to ``blobs``.

    ``keep(obj) -> id`` stores an unencodable object on the worker side (returns an
    Opaque marker); without it such an object raises EncodeError. ``callbacks(fn)``
    registers a grader-side callable.
    """
    t = type(value)
    if value is None or t is bool or t is str:
        return value
    if t is int:
        return value
    if t is float:
        return value if math.isfinite(value) else {"t": "float", "v": repr(value)}
    if isinstance(value, (Opaque,)):
        return {"t": "opaque", "id": value.id, "type": value.type_name}
    if isinstance(value, RngSpec):
        return {"t": "rng", "kind": value.kind, "seed": value.seed}
    if t in (tuple, list):
        return {"t": t.__name__, "v": [encode(v, blobs, keep, callbacks) for v in value]}
    if t is dict:
        return {"t": "dict", "v": [[encode(k, blobs, keep, callbacks), encode(v, blobs, keep, callbacks)]
                                   for k, v in value.items()]}
    if isinstance(value, np.ndarray):
        arr = _c_order(np.asarray(value).view(np.ndarray))
        if arr.dtype.name not in ALLOWED_DTYPES:
            return _unencodable(value, keep, f"an array of dtype {arr.dtype}")
        blobs.append(arr.tobytes())
        return {"t": "nd", "b": len(blobs) - 1, "dtype": arr.dtype.name, "shape": list(arr.shape)}
    if isinstance(value, np.generic):
        if value.dtype.name not in ALLOWED_DTYPES:
            return _unencodable(value, keep, f"a scalar of dtype {value.dtype}")
        item = value.item()
        if isinstance(item, float) and not math.isfinite(item):
            item = repr(item)
        return {"t": "npscalar", "dtype": value.dtype.name, "v": item}
    if callbacks is not None and callable(value) and not _is_tensor(value):
        return {"t": "callback", "id": callbacks(value)}
    if _is_tensor(value):
        dtype = str(value.dtype).removeprefix("torch.")
        if dtype not in ALLOWED_DTYPES:
            return _unencodable(value, keep, f"a tensor of dtype {value.dtype}")
        arr = _c_order(value.detach().cpu().resolve_conj().resolve_neg().numpy())
        blobs.append(arr.tobytes())
        return {"t": "pt", "b": len(blobs) - 1, "dtype": dtype, "shape": list(arr.shape),
                "device": str(value.device), "rg": bool(value.requires_grad)}
    return _unencodable(value, keep, f"an object of type {t.__name__}")


def _c_order(arr: np.ndarray) -> np.ndarray:
    """A C-contiguous copy when needed, keeping 0-d arrays 0-d (np.ascontiguousarray does not)."""
    return arr if arr.flags.c_contiguous else arr.copy(order="C")


def _is_tensor(value: Any) -> bool:
    torch = sys.modules.get("torch")  # a tensor can only exist once torch is imported
    return torch is not None and isinstance(value, torch.Tensor)


def _unencodable(value: Any, keep, what: str) -> Any:
    if keep is None:
        raise EncodeError(f"cannot send {what}")
    return {"t": "opaque", "id": keep(value), "type": type(value).__name__}


# ---------------------------------------------------------------------------
# Decoding (either side). ``make_rng``/``make_callback`` are only given on the worker side.

class _Budget:
    def __init__(self) -> None:
        self.nodes = 0

    def tick(self, depth: int) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise ProtocolError("value has too many parts")
        if depth > MAX_DEPTH:
            raise ProtocolError("value is nested too deeply")


def decode(tree: Any, blobs: list[memoryview], *, tensors_to: str | None = None,
           make_rng: Callable[[str, int], Any] | None = None,
           make_callback: Callable[[int], Any] | None = None,
           resolve_opaque: Callable[[int], Any] | None = None) -> Any:
    """Rebuild a value from ``encode``'s tree, validating every node.

    Tensors land on ``tensors_to`` (the worker: the device a call asks for) or, when it
    is None (the grader), on the device the sender reported, which must exist here.
    """
    return _decode(tree, blobs, _Budget(), 0, tensors_to, make_rng, make_callback, resolve_opaque)


def _decode(node, blobs, budget, depth, tensors_to, make_rng, make_callback, resolve_opaque):
    budget.tick(depth)
    t = type(node)
    if node is None or t in (bool, int, str):
        return node
    if t is float:
        return node
    if t is not dict or "t" not in node:
        raise ProtocolError(f"unexpected JSON node of type {t.__name__}")
    tag = node["t"]
    rec = lambda n: _decode(n, blobs, budget, depth + 1, tensors_to, make_rng, make_callback, resolve_opaque)  # noqa: E731
    if tag in ("tuple", "list"):
        items = node.get("v")
        if not isinstance(items, list):
            raise ProtocolError("bad sequence")
        out = [rec(v) for v in items]
        return tuple(out) if tag == "tuple" else out
    if tag == "dict":
        pairs = node.get("v")
        if not isinstance(pairs, list) or not all(isinstance(p, list) and len(p) == 2 for p in pairs):
            raise ProtocolError("bad dict")
        out = {}
        for k, v in pairs:
            key = rec(k)
            if type(key) not in (str, int, bool, float) and key is not None:
                raise ProtocolError("dict keys must be plain scalars")
            out[key] = rec(v)
        return out
    if tag == "float":
        if node.get("v") not in ("nan", "inf", "-inf"):
            raise ProtocolError("bad float")
        return float(node["v"])
    if tag == "npscalar":
        dtype = _checked_dtype(node.get("dtype"))
        v = node.get("v")
        if isinstance(v, str) and v in ("nan", "inf", "-inf"):
            v = float(v)
        if type(v) not in (int, float, bool):
            raise ProtocolError("bad numpy scalar")
        return np.dtype(dtype).type(v)
    if tag in ("nd", "pt"):
        arr = _array(node, blobs)
        if tag == "nd":
            return arr
        torch = _torch()
        device = tensors_to or node.get("device")
        if device != "cpu" and not (isinstance(device, str) and re.fullmatch(r"cuda(:\d{1,2})?", device)
                                    and torch.cuda.is_available()):
            raise ProtocolError(f"tensor on unsupported device {str(device)[:32]!r}")
        tensor = torch.from_numpy(arr).to(device)
        if tensors_to is not None and node.get("rg") is True:
            tensor.requires_grad_(True)
        return tensor
    if tag == "opaque":
        oid, tname = node.get("id"), node.get("type")
        if type(oid) is not int or not isinstance(tname, str):
            raise ProtocolError("bad opaque reference")
        if resolve_opaque is not None:
            return resolve_opaque(oid)
        return Opaque(oid, tname[:80])
    if tag == "rng":
        kind, seed = node.get("kind"), node.get("seed")
        if make_rng is None or kind not in ("numpy", "torch", "python") or type(seed) is not int:
            raise ProtocolError("unexpected generator")
        return make_rng(kind, seed)
    if tag == "callback":
        cid = node.get("id")
        if make_callback is None or type(cid) is not int:
            raise ProtocolError("unexpected callback")
        return make_callback(cid)
    raise ProtocolError(f"unknown tag {tag!r}")


def _checked_dtype(name: Any) -> str:
    if name not in ALLOWED_DTYPES:
        raise ProtocolError(f"dtype {name!r} is not allowed")
    return name


def _array(node: dict, blobs: list[memoryview]) -> np.ndarray:
    dtype = np.dtype(_checked_dtype(node.get("dtype")))
    shape, b = node.get("shape"), node.get("b")
    if not isinstance(shape, list) or len(shape) > 16 or not all(type(s) is int and s >= 0 for s in shape):
        raise ProtocolError("bad shape")
    if type(b) is not int or not 0 <= b < len(blobs):
        raise ProtocolError("bad blob index")
    count = math.prod(shape)
    if count * dtype.itemsize != len(blobs[b]):
        raise ProtocolError("array size does not match its shape")
    return np.frombuffer(blobs[b], dtype=dtype).reshape(shape).copy()
