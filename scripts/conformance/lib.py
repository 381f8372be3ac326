"""Writes conformance cases: a graph built with TensorFlow 1.x graph code and the values
TensorFlow computes for it, in the format Weft's `weft conformance` reads (see
Tests/Conformance/README.md).

Developers only: run with tensorflow-cpu from PyPI in a virtual environment outside the
repository (scripts/conformance/generate). Weft's tests read the files and never need TensorFlow.

    with Case("gather_v2_axis1", "GatherV2 along axis 1") as c:
        x = tf1.placeholder(tf.float32, [None, 3], name="x")
        y = tf.gather(x, [2, 0], axis=1, name="y")
        c.session([c.step(fetches=[y], feeds={x: np.arange(6, dtype=np.float32).reshape(2, 3)})])
"""
import base64
import json
import math
import os

import numpy as np
import tensorflow as tf

tf1 = tf.compat.v1
tf1.disable_eager_execution()

OUT = os.environ.get(
    "WEFT_CONFORMANCE_OUT",
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Tests", "Conformance"),
)
ONLY = set(filter(None, os.environ.get("WEFT_CONFORMANCE_ONLY", "").split(",")))


def _name(x):
    """A tensor's or op's name as a string."""
    if isinstance(x, str):
        return x
    return x.name


def _scalar(value, kind):
    if kind == "f":
        f = float(value)
        if math.isnan(f):
            return "nan"
        if math.isinf(f):
            return "inf" if f > 0 else "-inf"
        return f
    if kind == "c":
        return [_scalar(value.real, "f"), _scalar(value.imag, "f")]
    if kind == "b":
        return bool(value)
    if kind in "iu":
        return int(value)
    if kind in "SO":
        raw = value if isinstance(value, bytes) else str(value).encode()
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return {"base64": base64.b64encode(raw).decode()}
    raise TypeError(f"cannot encode {value!r}")


def encode(value, dtype=None):
    """`{"dtype", "shape", "values"}` for a NumPy value: floats NaN and ±inf as strings,
    complex numbers as [re, im], strings as UTF-8 text (or {"base64": …})."""
    array = np.asarray(value)
    name = dtype or ("string" if array.dtype.kind in "SOU" else str(array.dtype))
    if name == "bfloat16" or array.dtype.name == "bfloat16":
        name, array = "bfloat16", array.astype(np.float32)
    flat = array.reshape(-1)
    kind = "S" if name == "string" else array.dtype.kind
    return {"dtype": name, "shape": list(array.shape), "values": [_scalar(v, kind) for v in flat]}


def _without_devices(graph):
    graph_def = graph.as_graph_def()
    for node in graph_def.node:
        node.device = ""
    copy = tf.Graph()
    with copy.as_default():
        tf.graph_util.import_graph_def(graph_def, name="")
    return copy


def _op(element):
    """A target: an op, also when given one of its tensors (`tf1.assign` returns a tensor)."""
    return element.op if isinstance(element, tf.Tensor) else element


def _key_line(message):
    """The line of TensorFlow's message that says what went wrong: TensorFlow 2.x starts it with
    "Graph execution error:" and the stack of the node, then `Node: 'name'`, then the reason."""
    lines = [line.strip() for line in message.split("\n")]
    for index, line in enumerate(lines[:-1]):
        if line.startswith("Node: '") and lines[index + 1]:
            return lines[index + 1]
    return next((line for line in lines if line), "")


def _error_code(error):
    """TensorFlow's code name, as `FailedPrecondition`."""
    return type(error).__name__.removesuffix("Error")


class Case:
    """One case: a graph (built inside the `with` block) and sessions run on it."""

    def __init__(self, name, note, rtol=1e-5, atol=1e-7, binary=False):
        self.name, self.note, self.rtol, self.atol, self.binary = name, note, rtol, atol, binary
        self.graph = tf.Graph()
        self.sessions = []
        self._context = None

    def __enter__(self):
        self._context = self.graph.as_default()
        self._context.__enter__()
        return self

    def __exit__(self, kind, error, trace):
        self._context.__exit__(kind, error, trace)
        if kind is None and (not ONLY or self.name in ONLY):
            self.write()
        return False

    def step(self, fetches=(), feeds=None, targets=()):
        """A step to run: fetched tensors, fed values (tensor or name → value) and target ops."""
        return {"fetches": list(fetches), "feeds": dict(feeds or {}), "targets": list(targets)}

    def session(self, steps, config=None):
        """Runs `steps` in a fresh TensorFlow session, recording values or TensorFlow's error.
        TensorFlow runs a copy of the graph without devices (`/job:ps/task:0` names a cluster
        this process is not): placement never changes a value."""
        recorded = []
        graph = _without_devices(self.graph)
        with tf1.Session(graph=graph, config=config) as sess:
            for step in steps:
                fetches = [graph.as_graph_element(_name(f)) for f in step["fetches"]]
                targets = [_op(graph.as_graph_element(_name(t))) for t in step["targets"]]
                feeds = {graph.as_graph_element(_name(k)): v for k, v in step["feeds"].items()}
                entry = {
                    "feeds": {
                        _name(k): encode(v, _feed_dtype(graph, k)) for k, v in step["feeds"].items()
                    },
                    "fetches": [f.name for f in fetches],
                    "targets": [t.name for t in targets],
                }
                try:
                    values = sess.run(fetches + targets, feed_dict=feeds)[: len(fetches)]
                    entry["expect"] = {
                        f.name: encode(v, "string" if f.dtype == tf.string else None)
                        for f, v in zip(fetches, values)
                    }
                except tf.errors.OpError as error:
                    entry["error"] = {"code": _error_code(error), "message": _key_line(error.message)}
                recorded.append(entry)
        self.sessions.append(recorded)
        return recorded

    def write(self):
        os.makedirs(OUT, exist_ok=True)
        graph_def = self.graph.as_graph_def()
        base = os.path.join(OUT, self.name)
        for old in (base + ".pb", base + ".pbtxt"):
            if os.path.exists(old):
                os.remove(old)
        if self.binary:
            with open(base + ".pb", "wb") as f:
                f.write(graph_def.SerializeToString(deterministic=True))
        else:
            tf.io.write_graph(graph_def, OUT, self.name + ".pbtxt", as_text=True)
        document = {"note": self.note, "sessions": self.sessions}
        if (self.rtol, self.atol) != (1e-5, 1e-7):
            document["tolerance"] = {"rtol": self.rtol, "atol": self.atol}
        with open(base + ".json", "w") as f:
            json.dump(document, f, indent=1, allow_nan=False)
            f.write("\n")


def _feed_dtype(graph, key):
    tensor = graph.as_graph_element(_name(key))
    return "string" if tensor.dtype == tf.string else tensor.dtype.as_numpy_dtype.__name__ if tensor.dtype != tf.bfloat16 else "bfloat16"


def run_modules(modules):
    """Calls `cases()` of every module: each writes its cases."""
    for module in modules:
        module.cases()
