"""Gradients through TensorFlow 2.x's functional control flow: forward graphs whose `tf.cond`
and `tf.while_loop` are `If`/`StatelessIf` and `While`/`StatelessWhile` nodes calling functions
of the graph's library (control flow v2, TensorFlow's default), with the values TensorFlow's
`tf.gradients` computes. Resource variables reach the functions as captured handles, read
inside. As in `cases_gradients_cf.py`, TensorFlow's gradients come from a second build of the
model in a fresh graph (the GraphDef written holds the forward graph only).
"""
import contextlib

import numpy as np
import tensorflow as tf

from cases_gradients import F32, _rng
from cases_gradients_cf import RebuiltGradientCase, _name
from lib import tf1


@contextlib.contextmanager
def _v2_control_flow():
    was = tf1.control_flow_v2_enabled()
    tf1.enable_control_flow_v2()
    try:
        yield
    finally:
        (tf1.enable_control_flow_v2 if was else tf1.disable_control_flow_v2)()


def _resource(rng, shape, name, scale=0.5):
    return tf1.Variable(rng.uniform(-scale, scale, shape).astype(F32), name=name, use_resource=True)


def _case(name, note, build, feed_sets, with_variables=True):
    with RebuiltGradientCase(name, note) as c:
        loss, xs = build()
        init = tf1.global_variables_initializer() if with_variables else None
        steps = [c.step(targets=[init])] if init is not None else []
        c.session(steps + [c.step(fetches=[loss], feeds=feed_sets[0])])
        targets = [init.name] if init is not None else []
        for feeds in feed_sets:
            named = {_name(k): v for k, v in feeds.items()}
            c.rebuilt_gradients(build, [_name(loss)], [_name(x) for x in xs], named, targets=targets)


def if_model():
    def build():
        rng = _rng(13)
        x = tf1.placeholder(tf.float32, [3, 4], name="x")
        flag = tf1.placeholder(tf.bool, [], name="flag")
        w, b = _resource(rng, [4, 2], "w"), _resource(rng, [2], "b")
        h = tf.matmul(x, w) + b
        # w is read in the false branch only: the true branch's gradient of it is zeros.
        y = tf.cond(flag, lambda: tf.square(h - 0.5), lambda: tf.tanh(h) * w[0])
        return tf.reduce_sum(y, name="loss"), [w.handle, b.handle, x]

    x_value = _rng(14).uniform(-1, 1, [3, 4]).astype(F32)
    _case(
        "gradients_cf2_if",
        "functional If (control flow v2) on a fed predicate, a resource variable read in one branch only; gradients of the handles and the input with each branch taken",
        build,
        [{"x:0": x_value, "flag:0": np.array(taken)} for taken in (True, False)],
    )


def nested_stateless_if():
    def build():
        x = tf1.placeholder(tf.float32, [4], name="x")
        scale = tf1.placeholder(tf.float32, [], name="scale")
        y = tf.cond(
            tf.reduce_sum(x) > 0.0,
            lambda: tf.cond(tf.reduce_max(x) > 1.0, lambda: tf.sin(x) * scale, lambda: x * x * scale),
            lambda: tf.exp(x),
        )
        return tf.reduce_sum(y * x, name="loss"), [x, scale]

    _case(
        "gradients_cf2_nested_if",
        "a StatelessIf inside a StatelessIf on data-dependent predicates, a tensor from outside used in the inner branch; each path taken once",
        build,
        [
            {"x:0": np.array(values, F32), "scale:0": np.array(1.5, F32)}
            for values in ([0.5, 2.0, -0.3, 0.1], [0.2, 0.3, 0.1, -0.1], [-1.0, -2.0, 0.5, 0.2])
        ],
        with_variables=False,
    )


def while_rnn():
    def build():
        rng = _rng(15)
        inputs = tf1.placeholder(tf.float32, [5, 2, 3], name="inputs")
        state0 = tf1.placeholder(tf.float32, [2, 4], name="state0")
        w, u, b = _resource(rng, [4, 4], "w"), _resource(rng, [3, 4], "u"), _resource(rng, [4], "b")

        def body(t, state):
            x_t = tf.gather(inputs, t)
            return t + 1, tf.tanh(tf.matmul(state, w) + tf.matmul(x_t, u) + b)

        _, final = tf.while_loop(lambda t, s: t < 5, body, [tf.constant(0), state0])
        return tf.reduce_sum(tf.square(final), name="loss"), [w.handle, u.handle, b.handle, state0, inputs]

    rng = _rng(16)
    _case(
        "gradients_cf2_while_rnn",
        "a tanh RNN over 5 steps as a functional While (control flow v2) reading resource variables captured by its body; gradients of the handles, the initial state and the inputs",
        build,
        [{"inputs:0": rng.uniform(-1, 1, [5, 2, 3]).astype(F32), "state0:0": rng.uniform(-1, 1, [2, 4]).astype(F32)}],
    )


def while_data_dependent():
    def build():
        x = tf1.placeholder(tf.float32, [3], name="x")
        factor = tf1.placeholder(tf.float32, [], name="factor")

        def body(v):
            grown = v * factor
            return [tf.cond(tf.reduce_max(grown) > 4.0, lambda: grown + 0.5, lambda: tf.sin(grown) + grown)]

        final = tf.while_loop(lambda v: tf.reduce_sum(v) < 10.0, body, [x])
        final = final[0] if isinstance(final, (list, tuple)) else final
        return tf.reduce_sum(final * final, name="loss"), [x, factor]

    _case(
        "gradients_cf2_while_data_dependent",
        "a StatelessWhile whose trip count depends on the data, a StatelessIf in its body",
        build,
        [
            {"x:0": np.array([0.7, 1.1, 0.4], F32), "factor:0": np.array(1.3, F32)},
            {"x:0": np.array([4.0, 3.0, 4.0], F32), "factor:0": np.array(1.3, F32)},
        ],
        with_variables=False,
    )


def cases():
    with _v2_control_flow():
        if_model()
        nested_stateless_if()
        while_rnn()
        while_data_dependent()
