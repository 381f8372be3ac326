"""Gradients through TensorFlow 1.x control flow: forward graphs with `tf.cond` and
`tf.while_loop` written in v1 dataflow form (Switch, Merge, Enter, Exit, NextIteration), with
the values TensorFlow's `tf.gradients` computes. Weft builds its own gradients on the forward
graph (see `cases_gradients.py` for the JSON's `"gradients"` list).

TensorFlow differentiates v1 control flow through the Python context objects that built it,
which an imported GraphDef lacks, so each model is built twice: once in the case's graph (the
GraphDef written) and once in a fresh graph where `tf.gradients` runs. Both builds name every
node alike and draw the same initial values.
"""
import contextlib

import numpy as np
import tensorflow as tf

import lib
from cases_gradients import F32, GradientCase, _name, _rng, _var, _xs
from lib import tf1


@contextlib.contextmanager
def _v1_control_flow():
    was = tf1.control_flow_v2_enabled()
    tf1.disable_control_flow_v2()
    try:
        yield
    finally:
        (tf1.enable_control_flow_v2 if was else tf1.disable_control_flow_v2)()


class RebuiltGradientCase(GradientCase):
    """A gradient case whose TensorFlow gradients come from a second build of the model."""

    def rebuilt_gradients(self, build, ys, xs, feeds, targets=()):
        """Rebuilds the model with `build` in a fresh graph, takes `tf.gradients` of the tensors
        named `ys` with respect to `xs` there, runs it and records it against the case's graph."""
        graph = tf.Graph()
        with graph.as_default():
            build()
            y_tensors = [graph.get_tensor_by_name(y) for y in ys]
            x_tensors = [graph.get_tensor_by_name(x) for x in xs]
            gradients = [tf.convert_to_tensor(g) if g is not None else None for g in tf.gradients(y_tensors, x_tensors)]
            feed_dict = {graph.get_tensor_by_name(k): v for k, v in feeds.items()}
            init = tf1.global_variables_initializer() if targets else None
            with tf1.Session(graph=graph) as sess:
                if init is not None:
                    sess.run(init)
                values = sess.run([g for g in gradients if g is not None], feed_dict=feed_dict)
        computed = iter(values)
        entry = {
            "ys": list(ys),
            "xs": list(xs),
            "feeds": {k: lib.encode(v) for k, v in feeds.items()},
            "targets": list(targets),
            "unconnected": "none",
            "expect": {x: (lib.encode(next(computed)) if g is not None else None) for x, g in zip(xs, gradients)},
            "slices": {},
        }
        self.gradient_entries.append(entry)


def _case(name, note, build, feed_sets, with_variables=True):
    """A case running `build`'s loss with each feed set, and its gradients for each."""
    with RebuiltGradientCase(name, note) as c:
        loss, xs = build()
        init = tf1.global_variables_initializer() if with_variables else None
        steps = [c.step(targets=[init])] if init is not None else []
        c.session(steps + [c.step(fetches=[loss], feeds=feed_sets[0])])
        x_names = [_name(x) for x in xs]
        targets = [init.name] if init is not None else []
        for feeds in feed_sets:
            named = {_name(k): v for k, v in feeds.items()}
            c.rebuilt_gradients(build, [_name(loss)], x_names, named, targets=targets)


def cond_build(seed, resource=False):
    """`tf.cond` on a fed predicate: squared error in one branch, tanh·w (w read there only) in
    the other; gradients of w, b and the input."""

    def build():
        rng = _rng(seed)
        x = tf1.placeholder(tf.float32, [3, 4], name="x")
        flag = tf1.placeholder(tf.bool, [], name="flag")
        w, b = _var(rng, [4, 2], "w", resource), _var(rng, [2], "b", resource)
        h = tf.matmul(x, w) + b
        y = tf.cond(flag, lambda: tf.square(h - 0.5), lambda: tf.tanh(h) * w[0])
        return tf.reduce_sum(y, name="loss"), _xs([w, b]) + [x]

    return build


def nested_cond_build():
    """A cond inside a cond on data-dependent predicates, a tensor from outside in the inner branch."""
    x = tf1.placeholder(tf.float32, [4], name="x")
    scale = tf1.placeholder(tf.float32, [], name="scale")
    y = tf.cond(
        tf.reduce_sum(x) > 0.0,
        lambda: tf.cond(tf.reduce_max(x) > 1.0, lambda: tf.sin(x) * scale, lambda: x * x * scale),
        lambda: tf.exp(x),
    )
    return tf.reduce_sum(y * x, name="loss"), [x, scale]


# Each path of `nested_cond_build` taken once.
NESTED_COND_FEEDS = [
    {"x:0": np.array(values, F32), "scale:0": np.array(1.5, F32)}
    for values in ([0.5, 2.0, -0.3, 0.1], [0.2, 0.3, 0.1, -0.1], [-1.0, -2.0, 0.5, 0.2])
]


def rnn_build(seed, resource=False):
    """A tanh RNN over 5 steps as `tf.while_loop`: state = tanh(state·W + x_t·U + b), x_t
    gathered on the loop counter; gradients of W, U, b, the initial state and the inputs."""

    def build():
        rng = _rng(seed)
        inputs = tf1.placeholder(tf.float32, [5, 2, 3], name="inputs")
        state0 = tf1.placeholder(tf.float32, [2, 4], name="state0")
        w, u, b = _var(rng, [4, 4], "w", resource), _var(rng, [3, 4], "u", resource), _var(rng, [4], "b", resource)

        def body(t, state):
            x_t = tf.gather(inputs, t)
            return t + 1, tf.tanh(tf.matmul(state, w) + tf.matmul(x_t, u) + b)

        _, final = tf1.while_loop(lambda t, s: t < 5, body, [tf.constant(0), state0], parallel_iterations=4)
        return tf.reduce_sum(tf.square(final), name="loss"), _xs([w, u, b]) + [state0, inputs]

    return build


def rnn_feeds(seed):
    rng = _rng(seed)
    return [{"inputs:0": rng.uniform(-1, 1, [5, 2, 3]).astype(F32), "state0:0": rng.uniform(-1, 1, [2, 4]).astype(F32)}]


def data_dependent_build():
    """A loop whose trip count depends on the data (grow x by a factor until its sum passes
    10), with a cond in the body."""
    x = tf1.placeholder(tf.float32, [3], name="x")
    factor = tf1.placeholder(tf.float32, [], name="factor")

    def body(v):
        grown = v * factor
        return [tf.cond(tf.reduce_max(grown) > 4.0, lambda: grown + 0.5, lambda: tf.sin(grown) + grown)]

    final = tf1.while_loop(lambda v: tf.reduce_sum(v) < 10.0, body, [x])
    final = final[0] if isinstance(final, (list, tuple)) else final
    return tf.reduce_sum(final * final, name="loss"), [x, factor]


def cond_model(taken):
    side = "true" if taken else "false"
    x_value = _rng(4).uniform(-1, 1, [3, 4]).astype(F32)
    _case(
        f"gradients_cf_cond_{side}",
        f"tf.cond on a fed predicate ({side} taken): squared error in one branch, tanh·w in the other; gradients of w, b and the input",
        cond_build(3),
        [{"x:0": x_value, "flag:0": np.array(taken)}],
    )


def cases():
    with _v1_control_flow():
        cond_model(True)
        cond_model(False)
        _case(
            "gradients_cf_nested_cond",
            "a cond inside a cond on data-dependent predicates, a tensor from outside used in the inner branch; each path taken once",
            nested_cond_build,
            NESTED_COND_FEEDS,
            with_variables=False,
        )
        _case(
            "gradients_cf_while_rnn",
            "a tanh RNN over 5 steps as tf.while_loop (v1): state = tanh(state·W + x_t·U + b), x_t gathered on the loop counter; gradients of W, U, b, the initial state and the inputs",
            rnn_build(5),
            rnn_feeds(6),
        )
        _case(
            "gradients_cf_while_rnn_resource",
            "the tanh RNN of gradients_cf_while_rnn with resource variables, read by ReadVariableOps inside the v1 loop's body",
            rnn_build(7, resource=True),
            rnn_feeds(8),
        )
        _case(
            "gradients_cf_while_data_dependent",
            "a loop whose trip count depends on the data (grow x by a factor until its sum passes 10), with a cond in the body",
            data_dependent_build,
            [{"x:0": np.array([0.7, 1.1, 0.4], F32), "factor:0": np.array(1.3, F32)}],
            with_variables=False,
        )
