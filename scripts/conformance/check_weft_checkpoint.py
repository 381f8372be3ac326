#!/usr/bin/env python3
"""TensorFlow reads what Weft's Saver writes. Developers only, after `swift build --build-tests`:

    scripts/conformance/check_weft_checkpoint.py          (runs with the generator's venv)

It runs SaverTests with WEFT_CHECKPOINT_EXPORT set: Weft restores the checkpoint tf1.train.Saver
wrote (Tests/Conformance/checkpoints/tf_saver) and saves it again with its own Saver into that
folder. Then TensorFlow finds it with tf.train.latest_checkpoint (Weft's `checkpoint` state file),
lists it, reads every tensor and restores it with tf1.train.Saver into variables of its own:
each must equal what TensorFlow saved, bit for bit.
"""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
VENV_PYTHON = os.environ.get("WEFT_TF_VENV", os.path.join(ROOT, "..", "tfvenv")) + "/bin/python"

if __name__ == "__main__" and os.environ.get("WEFT_CHECK_IN_VENV") != "1" and os.path.exists(VENV_PYTHON):
    os.environ["WEFT_CHECK_IN_VENV"] = "1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.execv(VENV_PYTHON, [VENV_PYTHON, os.path.abspath(__file__)] + sys.argv[1:])

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, HERE)
from lib import tf1  # noqa: E402


def expected_values():
    with open(os.path.join(ROOT, "Tests/Conformance/checkpoints/tf_saver.json")) as f:
        return json.load(f)["values"]


def as_array(encoded):
    if encoded["dtype"] == "string":
        return np.array([v.encode() for v in encoded["values"]], dtype=object).reshape(encoded["shape"])
    return np.array(encoded["values"], dtype=encoded["dtype"]).reshape(encoded["shape"])


def same_bits(actual, expected):
    actual, expected = np.asarray(actual), np.asarray(expected)
    if actual.shape != expected.shape:
        return False
    if expected.dtype == object:
        return [bytes(a) for a in actual.reshape(-1)] == [bytes(e) for e in expected.reshape(-1)]
    return actual.dtype == expected.dtype and actual.tobytes() == expected.tobytes()


def main():
    export = tempfile.mkdtemp(prefix="weft-checkpoint-for-tensorflow-")
    env = dict(os.environ, WEFT_CHECKPOINT_EXPORT=export)
    subprocess.run(
        ["swift", "test", "--skip-build", "--filter", "SaverTests/tensorFlowCheckpoint"],
        cwd=ROOT, env=env, check=True,
    )
    prefix = tf.train.latest_checkpoint(export)
    assert prefix == os.path.join(export, "model-7"), f"latest_checkpoint found {prefix!r}"
    values = {name: as_array(encoded) for name, encoded in expected_values().items()}
    listed = dict(tf.train.list_variables(prefix))
    assert set(listed) == set(values), f"Weft's checkpoint holds {sorted(listed)}, expected {sorted(values)}"
    reader = tf.train.load_checkpoint(prefix)
    for name, value in values.items():
        assert listed[name] == list(value.shape), f"{name}: shape {listed[name]}, expected {list(value.shape)}"
        assert same_bits(reader.get_tensor(name), value), f"{name}: {reader.get_tensor(name)!r}, expected {value!r}"
    with tf.Graph().as_default():
        variables = {
            name: tf1.Variable(tf.zeros(value.shape, value.dtype) if value.dtype != object else "", name=name,
                               use_resource=False)
            for name, value in values.items()
        }
        saver = tf1.train.Saver()
        with tf1.Session() as sess:
            saver.restore(sess, prefix)
            for name, value in values.items():
                assert same_bits(sess.run(variables[name]), value), f"{name} restored by tf1.train.Saver differs"
    print(f"ok: TensorFlow {tf.__version__} reads Weft's checkpoint {prefix} bit-exact ({len(values)} tensors)")


if __name__ == "__main__":
    main()
