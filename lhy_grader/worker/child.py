"""The worker process: the only place where student code runs.

Started by ``client.Worker`` as ``python -I -m lhy_grader.worker.child READ_FD WRITE_FD``.
It loads the submission's module files, then serves requests on its private pipes
until told to exit. Everything it sends back is data (see ``codec``); the grader
trusts none of it beyond its type, dtype and shape.
"""

from __future__ import annotations

import collections
import importlib
import importlib.util
import os
import sys
import traceback
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from lhy_grader.worker import codec

MAX_KEPT = 256  # opaque objects (e.g. a student's `cache`) remembered for later calls


class Child:
    def __init__(self, read_fd: int, write_fd: int) -> None:
        self.read_fd, self.write_fd = read_fd, write_fd
        self.submission: Path | None = None
        self.modules: dict[str, Any] = {}
        self.kept: collections.OrderedDict[int, Any] = collections.OrderedDict()
        self.next_id = 0
        self.device = "cpu"

    # -- channel ---------------------------------------------------------------
    def send(self, header: dict, payload: Any = None, key: str = "result") -> None:
        blobs: list[bytes] = []
        if payload is not None or key in header:
            try:
                header[key] = codec.encode(payload, blobs, keep=self.keep)
            except Exception as e:  # a hostile object can fail anywhere in encoding
                header = {"ok": False, "kind": "output", "message": f"could not send the result back: {_one_line(e)}"}
                blobs = []
        codec.write_all(self.write_fd, codec.frame(header, blobs))

    def receive(self) -> tuple[dict, list[memoryview]]:
        return codec.read_message(self.read_fd)

    def keep(self, obj: Any) -> int:
        self.next_id += 1
        self.kept[self.next_id] = obj
        while len(self.kept) > MAX_KEPT:
            self.kept.popitem(last=False)
        return self.next_id

    def resolve(self, oid: int) -> Any:
        if oid not in self.kept:
            raise codec.ProtocolError("an object returned earlier is no longer kept")
        return self.kept[oid]

    def decode(self, tree: Any, blobs: list[memoryview]) -> Any:
        return codec.decode(tree, blobs, tensors_to=self.device, make_rng=_make_rng,
                            make_callback=self.make_callback, resolve_opaque=self.resolve)

    def make_callback(self, cid: int):
        def call_grader(*args: Any, **kwargs: Any) -> Any:
            blobs: list[bytes] = []
            tree = {"args": codec.encode(list(args), blobs, keep=self.keep),
                    "kwargs": codec.encode(dict(kwargs), blobs, keep=self.keep)}
            codec.write_all(self.write_fd, codec.frame({"op": "callback", "id": cid, **tree}, blobs))
            header, rblobs = self.receive()
            if not header.get("ok"):
                raise RuntimeError(header.get("message", "the grader rejected this call"))
            return self.decode(header.get("result"), rblobs)
        call_grader.__name__ = f"grader_callback_{cid}"
        return call_grader

    # -- requests --------------------------------------------------------------
    def serve(self) -> None:
        while True:
            try:
                header, blobs = self.receive()
            except EOFError:
                return
            op = header.get("op")
            if op == "exit":
                return
            handler = getattr(self, f"op_{op}", None)
            if handler is None:
                self.send({"ok": False, "kind": "protocol", "message": f"unknown op {op!r}"})
                continue
            handler(header, blobs)

    def op_ping(self, header: dict, blobs: list[memoryview]) -> None:
        self.device = "cpu"
        self.send({"ok": True}, self.decode(header.get("value"), blobs))

    def op_preload(self, header: dict, blobs: list[memoryview]) -> None:
        for name in header.get("modules", []):
            if name in ("numpy", "torch"):
                importlib.import_module(name)
        self.send({"ok": True})

    def op_load(self, header: dict, blobs: list[memoryview]) -> None:
        """Load the named module files of a submission; report per-module status and functions."""
        if self.submission is not None:
            self.forget_submission()
        self.submission = Path(header["path"]).resolve()
        sys.path.append(str(self.submission))  # after stdlib/numpy/torch: a student file cannot shadow them
        report = {}
        for name in header["modules"]:
            report[name] = self.load_module(name)
        self.send({"ok": True, "modules": report})

    def forget_submission(self) -> None:
        """Drop every module the previous submission's folder provided, so that a worker
        loading another folder never resolves `import attention` to the old one."""
        folder = str(self.submission)
        for name, module in list(sys.modules.items()):
            origin = getattr(module, "__file__", None) or ""
            if origin.startswith(folder + os.sep):
                del sys.modules[name]
        while folder in sys.path:
            sys.path.remove(folder)
        self.modules.clear()
        self.kept.clear()

    def load_module(self, name: str) -> dict:
        path = self.submission / f"{name}.py"
        if not path.is_file():
            return {"status": "missing"}
        try:
            module = sys.modules.get(name)
            if module is None or Path(getattr(module, "__file__", "") or "").resolve() != path.resolve():
                spec = importlib.util.spec_from_file_location(name, path)
                module = importlib.util.module_from_spec(spec)
                sys.modules[name] = module
                spec.loader.exec_module(module)
        except BaseException as e:  # SyntaxError, ImportError, SystemExit at import time, ...
            sys.modules.pop(name, None)
            return {"status": "error", "message": self.describe(e)}
        self.modules[name] = module
        functions = sorted(k for k, v in vars(module).items() if callable(v) and not k.startswith("_"))
        return {"status": "ok", "functions": functions}

    def op_call(self, header: dict, blobs: list[memoryview]) -> None:
        """Call one student function; optionally backpropagate through its tensor outputs."""
        self.device = header.get("device", "cpu")
        try:
            module_name, fn_name = header["fn"].split(".", 1)
            fn = getattr(self.modules[module_name], fn_name)
            args = self.decode(header["args"], blobs)
            kwargs = self.decode(header["kwargs"], blobs)
            grad_outputs = self.decode(header["grad_outputs"], blobs) if header.get("grad_outputs") is not None else None
        except Exception as e:
            self.send({"ok": False, "kind": "protocol", "message": _one_line(e)})
            return
        _seed_global_generators(header.get("seed", 0))
        before = _snapshot((args, kwargs))
        guard = ForbiddenGuard(header.get("forbidden", []))
        try:
            with guard, warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                result = fn(*args, **kwargs)
        except BaseException as e:
            kind = "not_implemented" if isinstance(e, NotImplementedError) else "raised"
            self.send({"ok": False, "kind": kind, "message": self.describe(e), "forbidden": guard.called})
            return
        reply: dict[str, Any] = {"ok": True, "forbidden": guard.called,
                                 "warnings": [f"{w.category.__name__}: {w.message}" for w in caught[:5]],
                                 "mutated": _mutated(before, (args, kwargs), header.get("arg_names", []))}
        if grad_outputs is not None:
            try:
                grads = _backward(result, args, kwargs, grad_outputs)
            except BaseException as e:
                self.send({"ok": False, "kind": "grad", "message": self.describe(e), "forbidden": guard.called})
                return
            result = (result, grads)
        self.send(reply, result)

    def op_routine(self, header: dict, blobs: list[memoryview]) -> None:
        """Run one of the grader's own routines (e.g. a training loop) that calls student
        functions. Only ``lhy_grader.training.*`` routines may be named."""
        self.device = header.get("device", "cpu")
        try:
            module_name, _, attr = str(header["name"]).partition(":")
            if not module_name.startswith("lhy_grader.training."):
                raise ValueError(f"not a routine: {module_name}")
            routine = getattr(importlib.import_module(module_name), attr)
            args = self.decode(header["args"], blobs)
            kwargs = self.decode(header["kwargs"], blobs)
        except Exception as e:
            self.send({"ok": False, "kind": "protocol", "message": _one_line(e)})
            return
        import torch
        torch.set_flush_denormal(True)  # training on CPU is several times slower without it
        try:
            result = routine(*args, **kwargs)
        except BaseException as e:
            kind = "not_implemented" if isinstance(e, NotImplementedError) else "raised"
            self.send({"ok": False, "kind": kind, "message": self.describe(e)})
            return
        finally:
            torch.set_flush_denormal(False)  # function checks always run without it
        self.send({"ok": True}, result)

    def describe(self, e: BaseException) -> str:
        """`Type: message (file.py:line)` naming the innermost frame in the student's files."""
        where = ""
        if self.submission is not None:
            for frame in reversed(traceback.extract_tb(e.__traceback__)):
                if frame.filename and Path(frame.filename).parent == self.submission:
                    where = f" ({Path(frame.filename).name}:{frame.lineno})"
                    break
        if isinstance(e, SyntaxError) and e.filename:
            where = f" ({Path(e.filename).name}:{e.lineno})"
            return f"SyntaxError: {e.msg}{where}"
        return f"{type(e).__name__}: {_one_line(e)}{where}"


class ForbiddenGuard:
    """Replaces library functions the exercise forbids with recorders while the student runs."""

    def __init__(self, dotted_names: list[str]) -> None:
        self.names = dotted_names
        self.called: list[str] = []
        self.saved: list[tuple[Any, str, Any]] = []

    def __enter__(self) -> "ForbiddenGuard":
        for dotted in self.names:
            owner_path, _, attr = dotted.rpartition(".")
            owner = _resolve(owner_path)
            original = getattr(owner, attr, None) if owner is not None else None
            if original is None:
                continue
            self.saved.append((owner, attr, original))
            setattr(owner, attr, self._recorder(dotted, original))
        return self

    def _recorder(self, dotted: str, original: Any):
        def recorded(*args: Any, **kwargs: Any) -> Any:
            if dotted not in self.called:
                self.called.append(dotted)
            return original(*args, **kwargs)
        return recorded

    def __exit__(self, *exc: Any) -> None:
        for owner, attr, original in reversed(self.saved):
            setattr(owner, attr, original)


def _resolve(dotted: str) -> Any:
    parts = dotted.split(".")
    if parts[0] not in sys.modules:
        return None
    obj = sys.modules[parts[0]]
    for part in parts[1:]:
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def _seed_global_generators(seed: Any) -> None:
    """Seed `random`, NumPy's and torch's global state before each call, so that code which
    (against the rules) draws from global state still grades the same on every run."""
    import random
    seed = seed if type(seed) is int and 0 <= seed < 2**32 else 0
    random.seed(seed)
    np.random.seed(seed)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)


def _make_rng(kind: str, seed: int) -> Any:
    if kind == "numpy":
        return np.random.default_rng(seed)
    if kind == "python":
        import random
        return random.Random(seed)
    import torch
    return torch.Generator().manual_seed(seed)


def _leaves(value: Any) -> list[Any]:
    """Arrays and tensors inside a nested argument structure, in a fixed order."""
    if isinstance(value, (list, tuple)):
        return [leaf for v in value for leaf in _leaves(v)]
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    if isinstance(value, np.ndarray) or codec._is_tensor(value):
        return [value]
    return []


def _snapshot(value: Any) -> list[Any]:
    return [leaf.copy() if isinstance(leaf, np.ndarray) else leaf.detach().clone() for leaf in _leaves(value)]


def _mutated(before: list[Any], after_value: Any, arg_names: list[str]) -> list[str]:
    """Names of the top-level arguments whose arrays/tensors changed during the call."""
    args, kwargs = after_value
    names = [arg_names[i] if i < len(arg_names) else f"argument {i + 1}" for i in range(len(args))] + list(kwargs)
    changed, at = [], 0
    for name, value in zip(names, [*args, *kwargs.values()]):
        for leaf in _leaves(value):
            old = before[at]
            at += 1
            new = leaf if isinstance(leaf, np.ndarray) else leaf.detach()
            same = (old.shape == new.shape and
                    (np.array_equal(old, new, equal_nan=old.dtype.kind == "f") if isinstance(old, np.ndarray)
                     else bool(old.eq(new).logical_or(old.isnan() & new.isnan()).all()) if old.is_floating_point()
                     else bool(old.eq(new).all())))
            if not same and name not in changed:
                changed.append(name)
    return changed


def _backward(result: Any, args: Any, kwargs: Any, grad_outputs: list[Any]) -> list[Any]:
    """Gradients of sum(out_i * grad_outputs[i]) w.r.t. every input tensor that requires grad."""
    import torch
    outputs = [t for t in _leaves(result) if codec._is_tensor(t) and t.is_floating_point()]
    if len(outputs) != len(grad_outputs):
        raise ValueError(f"expected {len(grad_outputs)} floating tensor output(s), got {len(outputs)}")
    inputs = [t for t in _leaves((args, kwargs)) if codec._is_tensor(t) and t.requires_grad]
    pairs = [(o, g) for o, g in zip(outputs, grad_outputs) if o.requires_grad]
    if not pairs:
        raise ValueError("the output is not connected to the inputs by autograd "
                         "(was it detached, or computed with NumPy?)")
    grads = torch.autograd.grad([o for o, _ in pairs], inputs, [g for _, g in pairs], allow_unused=True)
    return [None if g is None else g for g in grads]


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return text[:300] + ("…" if len(text) > 300 else "")


def main() -> None:
    read_fd, write_fd = int(sys.argv[1]), int(sys.argv[2])
    os.set_inheritable(read_fd, False)
    os.set_inheritable(write_fd, False)
    Child(read_fd, write_fd).serve()


if __name__ == "__main__":
    main()
