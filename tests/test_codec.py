"""The wire format decodes only plain data, and refuses anything malformed or oversized."""

from __future__ import annotations

import json
import os
import struct

import numpy as np
import pytest
import torch

from lhy_grader.worker import codec


def roundtrip(value, **decode_kwargs):
    blobs: list[bytes] = []
    tree = codec.encode(value, blobs)
    return codec.decode(json.loads(json.dumps(tree)), [memoryview(b) for b in blobs], **decode_kwargs)


def test_plain_values_roundtrip_exactly():
    value = {"a": (1, 2.5, None, True, "s"), "b": [float("nan"), float("-inf")],
             "arr": np.arange(6, dtype=np.int64).reshape(2, 3), "t": torch.ones(2, 2, dtype=torch.float64)}
    back = roundtrip(value)
    assert back["a"] == (1, 2.5, None, True, "s")
    assert np.isnan(back["b"][0]) and back["b"][1] == float("-inf")
    assert back["arr"].dtype == np.int64 and (back["arr"] == value["arr"]).all()
    assert type(back["t"]) is torch.Tensor and back["t"].dtype == torch.float64


def test_subclasses_arrive_as_plain_types():
    class Sub(np.ndarray):
        def __eq__(self, other):
            return True
    back = roundtrip(np.zeros(3).view(Sub))
    assert type(back) is np.ndarray
    assert not (back == np.ones(3)).any()


def test_unsendable_objects_need_a_keeper():
    class Liar:
        def __eq__(self, other):
            return True
    with pytest.raises(codec.EncodeError):
        codec.encode(Liar(), [])
    kept = []
    tree = codec.encode(Liar(), [], keep=lambda obj: kept.append(obj) or len(kept))
    back = codec.decode(tree, [])
    assert isinstance(back, codec.Opaque) and back.type_name == "Liar"
    assert back != 1.0


@pytest.mark.parametrize("tree,blobs,fragment", [
    ({"t": "nd", "b": 0, "dtype": "object", "shape": [1]}, [b"x" * 8], "not allowed"),
    ({"t": "nd", "b": 0, "dtype": "float64", "shape": [3]}, [b"x" * 8], "does not match"),
    ({"t": "nd", "b": 2, "dtype": "float64", "shape": [1]}, [b"x" * 8], "blob index"),
    ({"t": "nd", "b": 0, "dtype": "float64", "shape": [-1]}, [b"x" * 8], "bad shape"),
    ({"t": "pickle", "v": "..."}, [], "unknown tag"),
    ({"t": "rng", "kind": "numpy", "seed": 1}, [], "unexpected generator"),
    ({"t": "callback", "id": 1}, [], "unexpected callback"),
    ({"t": "dict", "v": [[{"t": "list", "v": []}, 1]]}, [], "plain scalars"),
    ({"t": "pt", "b": 0, "dtype": "float64", "shape": [1], "device": "meta"}, [b"x" * 8], "unsupported device"),
    ([1, 2], [], "unexpected JSON node"),
])
def test_malformed_trees_are_refused(tree, blobs, fragment):
    with pytest.raises(codec.ProtocolError, match=fragment):
        codec.decode(tree, [memoryview(b) for b in blobs])


def test_nesting_depth_is_bounded():
    tree: object = 1
    for _ in range(codec.MAX_DEPTH + 2):
        tree = {"t": "list", "v": [tree]}
    with pytest.raises(codec.ProtocolError, match="nested too deeply"):
        codec.decode(tree, [])


def test_frames_refuse_oversized_headers_and_non_json():
    r, w = os.pipe()
    os.write(w, struct.pack("<I", codec.MAX_HEADER_BYTES + 1))
    with pytest.raises(codec.ProtocolError, match="too large"):
        codec.read_message(r)
    os.write(w, struct.pack("<I", 3) + b"{x}")
    with pytest.raises(codec.ProtocolError, match="not JSON"):
        codec.read_message(r)
    os.close(r)
    os.close(w)


def test_frames_roundtrip_through_a_pipe():
    r, w = os.pipe()
    blobs: list[bytes] = []
    tree = codec.encode(np.arange(4.0), blobs)
    codec.write_all(w, codec.frame({"op": "x", "result": tree}, blobs))
    header, got = codec.read_message(r)
    assert header["op"] == "x"
    assert (codec.decode(header["result"], got) == np.arange(4.0)).all()
    os.close(r)
    os.close(w)


def test_zero_dimensional_values_keep_their_shape():
    assert roundtrip(np.array(2.5)).shape == ()
    assert roundtrip(torch.tensor(1.5, dtype=torch.float64)).shape == ()
    transposed = roundtrip(np.arange(6.0).reshape(2, 3).T)
    assert (transposed == np.arange(6.0).reshape(2, 3).T).all()
