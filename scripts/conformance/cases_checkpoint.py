"""Checkpoints: tf1.train.Saver graphs that save in one session and restore in another (the
files go under /tmp, a folder per case), restores of a checkpoint TensorFlow wrote
(Tests/Conformance/checkpoints, fed as a path relative to the repository root, where the runner
runs), the file-name ops of sharded saving and the errors of a restore."""
import os

import numpy as np
import tensorflow as tf

from lib import Case, OUT, tf1

ROOT = os.path.normpath(os.path.join(OUT, "..", ".."))
FIXTURE = "Tests/Conformance/checkpoints/tf_mixed"
FIXTURE_VALUES = {
    "a_float": np.array([1.5, -2.25, 3.0e-8], dtype=np.float32),
    "b_int64": np.array([[1, -2], [2**40, -(2**62)]], dtype=np.int64),
    "c_string": np.array([b"", b"hello", "h\u00e9".encode(), b"\x00\xff"], dtype=object),
    "d_bool": np.array([True, False, True]),
    "e_cube": np.arange(24, dtype=np.float64).reshape(2, 3, 4) / 7,
    "f_empty": np.zeros([0, 3], dtype=np.float32),
    "g_scalar_string": np.array(b"scalar", dtype=object),
    "h_int32": np.array(-7, dtype=np.int32),
}


def _tmp(name):
    return f"/tmp/weft-conformance-{name}/model"


def _write_fixture():
    """The checkpoint TensorFlow wrote, committed: Weft must read TensorFlow's bytes."""
    with tf.Graph().as_default():
        names = sorted(FIXTURE_VALUES)
        save = tf.raw_ops.SaveV2(
            prefix=os.path.join(ROOT, FIXTURE), tensor_names=names, shape_and_slices=[""] * len(names),
            tensors=[tf.constant(FIXTURE_VALUES[n]) for n in names],
        )
        with tf1.Session() as sess:
            sess.run(save)


def _saver_round_trip():
    with Case(
        "checkpoint_saver_round_trip",
        "tf1.train.Saver() over ref variables of four dtypes: session 1 assigns values and saves, "
        "session 2 restores and reads them (path under /tmp).",
    ) as c:
        w = tf1.Variable(tf.zeros([2, 3]), name="w", use_resource=False)
        step = tf1.Variable(tf.constant(0, tf.int64), name="step", use_resource=False)
        label = tf1.Variable(tf.constant("", tf.string), name="label", use_resource=False)
        flag = tf1.Variable(tf.constant(False), name="flag", use_resource=False)
        assign = tf.group(
            w.assign(tf.reshape(tf.range(6, dtype=tf.float32), [2, 3]) * 0.5),
            step.assign(tf.constant(41, tf.int64) + 1),
            label.assign("saved by session one"),
            flag.assign(True),
            name="assign",
        )
        saver = tf1.train.Saver()
        init = tf1.global_variables_initializer()
        feeds = {saver.saver_def.filename_tensor_name: _tmp(c.name)}
        c.session([
            c.step(targets=[init]),
            c.step(targets=[assign]),
            c.step(fetches=[saver.saver_def.save_tensor_name], feeds=feeds),
        ])
        c.session([
            c.step(targets=[saver.saver_def.restore_op_name], feeds=feeds),
            c.step(fetches=[w, step, label, flag]),
        ])


def _saver_resource_variables():
    with Case(
        "checkpoint_saver_resource_variables",
        "tf1.train.Saver() over resource variables, saved after an update and restored into a "
        "fresh session, then updated again.",
    ) as c:
        with tf1.variable_scope("model", use_resource=True):
            v = tf1.get_variable("v", initializer=tf.constant([[1.0, 2.0], [3.0, 4.0]]))
            n = tf1.get_variable("n", initializer=tf.constant([7, 8, 9]))
        bump = tf.group(v.assign_add(tf.ones([2, 2])), n.assign_sub([1, 1, 1]), name="bump")
        saver = tf1.train.Saver()
        feeds = {saver.saver_def.filename_tensor_name: _tmp(c.name)}
        c.session([
            c.step(targets=[tf1.global_variables_initializer()]),
            c.step(targets=[bump]),
            c.step(fetches=[saver.saver_def.save_tensor_name], feeds=feeds),
        ])
        c.session([
            c.step(targets=[saver.saver_def.restore_op_name], feeds=feeds),
            c.step(fetches=[v.value(), n.value()]),
            c.step(targets=[bump]),
            c.step(fetches=[v.value(), n.value()]),
        ])


def _saver_sharded():
    with Case(
        "checkpoint_saver_sharded",
        "tf1.train.Saver(sharded=True): SaveV2 to a temporary shard prefix (ShardedFilename, "
        "StringJoin), MergeV2Checkpoints into the prefix, then a restore in a new session.",
    ) as c:
        a = tf1.Variable(tf.constant([1.0, 2.0, 3.0]), name="a", use_resource=False)
        b = tf1.Variable(tf.constant([[5, 6]], tf.int32), name="b", use_resource=False)
        change = tf.group(a.assign([9.0, 8.0, 7.0]), b.assign([[-1, -2]]), name="change")
        saver = tf1.train.Saver(sharded=True)
        # The shards go to PREFIX_temp/, a folder that must be creatable: its parent exists.
        feeds = {saver.saver_def.filename_tensor_name: f"/tmp/weft-conformance-{c.name}"}
        c.session([
            c.step(targets=[tf1.global_variables_initializer()]),
            c.step(targets=[change]),
            c.step(fetches=[saver.saver_def.save_tensor_name], feeds=feeds),
        ])
        c.session([
            c.step(targets=[saver.saver_def.restore_op_name], feeds=feeds),
            c.step(fetches=[a, b]),
        ])


def _restore_fixture():
    names = sorted(FIXTURE_VALUES)
    with Case(
        "checkpoint_restore_v2_tf_written",
        "RestoreV2 of every tensor of a checkpoint TensorFlow wrote (float, int64, strings with "
        "non-ASCII and NUL bytes, bool, a 3-D double, an empty [0,3], a string scalar, an int32 "
        "scalar); the prefix is relative to the repository root.",
    ) as c:
        prefix = tf1.placeholder(tf.string, [], name="prefix")
        restored = tf.raw_ops.RestoreV2(
            prefix=prefix, tensor_names=names, shape_and_slices=[""] * len(names),
            dtypes=[tf.as_dtype(FIXTURE_VALUES[n].dtype if FIXTURE_VALUES[n].dtype != object else tf.string)
                    for n in names],
            name="restore",
        )
        outputs = [tf.identity(t, name=f"out_{n}") for t, n in zip(restored, names)]
        c.session([c.step(fetches=outputs, feeds={prefix: FIXTURE})])
    with Case(
        "checkpoint_restore_v2_subset_reordered",
        "RestoreV2 of two tensors of TensorFlow's checkpoint in reverse name order.",
    ) as c:
        restored = tf.raw_ops.RestoreV2(
            prefix=FIXTURE, tensor_names=["e_cube", "a_float"], shape_and_slices=["", ""],
            dtypes=[tf.float64, tf.float32], name="restore",
        )
        c.session([c.step(fetches=[tf.identity(t, name=f"out{i}") for i, t in enumerate(restored)])])


def _restore_errors():
    def case(name, note, tensor_names, dtypes, prefix=FIXTURE, slices=None):
        with Case(name, note) as c:
            restored = tf.raw_ops.RestoreV2(
                prefix=prefix, tensor_names=tensor_names,
                shape_and_slices=slices or [""] * len(tensor_names), dtypes=dtypes, name="restore",
            )
            c.session([c.step(fetches=[tf.identity(restored[0], name="out")])])

    case("checkpoint_restore_v2_missing_key", "A name the checkpoint lacks: NotFound.", ["nope"], [tf.float32])
    case(
        "checkpoint_restore_v2_missing_checkpoint", "A prefix with no checkpoint: NotFound.",
        ["a_float"], [tf.float32], prefix="/tmp/weft-conformance-no-such-checkpoint/model",
    )
    case(
        "checkpoint_restore_v2_wrong_dtype", "Restoring int64 as float: InvalidArgument.",
        ["b_int64"], [tf.float32],
    )


def _filenames():
    with Case(
        "checkpoint_sharded_filename",
        "ShardedFilename and ShardedFilespec, five-digit zero padding and wider numbers.",
    ) as c:
        base = tf1.placeholder(tf.string, [], name="base")
        shard = tf1.placeholder(tf.int32, [], name="shard")
        count = tf1.placeholder(tf.int32, [], name="count")
        name = tf.raw_ops.ShardedFilename(basename=base, shard=shard, num_shards=count, name="name")
        spec = tf.raw_ops.ShardedFilespec(basename=base, num_shards=count, name="spec")
        c.session([
            c.step(fetches=[name, spec], feeds={base: "/tmp/x/model", shard: 3, count: 12}),
            c.step(fetches=[name, spec], feeds={base: "part", shard: 123456, count: 1234567}),
        ])


def _string_stacking():
    with Case(
        "checkpoint_string_pack_concat",
        "Pack and ConcatV2 of string tensors, as the sharded Saver packs its shard prefixes: "
        "axis 0 and 1, an empty input.",
    ) as c:
        a = tf1.placeholder(tf.string, [2, 2], name="a")
        b = tf1.placeholder(tf.string, [2, 2], name="b")
        empty = tf1.placeholder(tf.string, [2, 0], name="empty")
        outputs = [
            tf.stack([a, b], axis=0, name="pack0"),
            tf.stack([a, b], axis=2, name="pack2"),
            tf.concat([a, empty, b], axis=1, name="concat1"),
            tf.concat([a, b], axis=0, name="concat0"),
        ]
        feeds = {
            a: np.array([[b"p", b"q"], [b"", b"r\xc3\xa9"]], dtype=object),
            b: np.array([[b"x", b"yy"], [b"zzz", b""]], dtype=object),
            empty: np.zeros([2, 0], dtype=object),
        }
        c.session([c.step(fetches=outputs, feeds=feeds)])


def cases():
    previous = os.getcwd()
    os.chdir(ROOT)
    try:
        _write_fixture()
        _saver_round_trip()
        _saver_resource_variables()
        _saver_sharded()
        _restore_fixture()
        _restore_errors()
        _filenames()
        _string_stacking()
    finally:
        os.chdir(previous)
