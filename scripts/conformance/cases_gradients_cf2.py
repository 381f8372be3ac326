"""Gradients through TensorFlow 2.x's functional control flow: the models of
`cases_gradients_cf.py` built with control flow v2 (TensorFlow's default), so their `tf.cond`
and `tf.while_loop` are `If`/`StatelessIf` and `While`/`StatelessWhile` nodes calling functions
of the graph's library, with resource variables reaching the functions as captured handles.
TensorFlow's gradients come from a second build of each model, as there.
"""
import numpy as np
import tensorflow as tf

from cases_functional import _v2
from cases_gradients import F32, _rng, _var, _xs
from lib import tf1
from cases_gradients_cf import (
    NESTED_COND_FEEDS,
    _case,
    cond_build,
    data_dependent_build,
    nested_cond_build,
    rnn_build,
    rnn_feeds,
)


def call_build(seed):
    """A `tf.function` called in the graph (a `StatefulPartitionedCall` whose function reads a
    captured resource variable); gradients of the handle and the input."""

    def build():
        rng = _rng(seed)
        x = tf1.placeholder(tf.float32, [3, 4], name="x")
        w = _var(rng, [4, 2], "w", True)

        @tf.function
        def layer(v):
            return tf.tanh(tf.matmul(v, w))

        return tf.reduce_sum(tf.square(layer(x)), name="loss"), _xs([w]) + [x]

    return build


def while_call_build(seed):
    """A functional While whose body calls a `tf.function` reading captured resource variables:
    an RNN cell called once per step."""

    def build():
        rng = _rng(seed)
        state0 = tf1.placeholder(tf.float32, [2, 4], name="state0")
        w, b = _var(rng, [4, 4], "w", True), _var(rng, [4], "b", True)

        @tf.function
        def cell(state):
            return tf.tanh(tf.matmul(state, w) + b)

        _, final = tf1.while_loop(lambda t, s: t < 4, lambda t, s: (t + 1, cell(s)), [tf.constant(0), state0])
        return tf.reduce_sum(tf.square(final), name="loss"), _xs([w, b]) + [state0]

    return build


def while_stateful_if_build(seed):
    """A functional While whose body holds an `If` (stateful: a branch reads a resource
    variable) on a data-dependent predicate."""

    def build():
        rng = _rng(seed)
        x = tf1.placeholder(tf.float32, [3], name="x")
        w = _var(rng, [3], "w", True)

        def body(i, v):
            return i + 1, tf.cond(tf.reduce_sum(v) > 0.0, lambda: tf.sin(v * w), lambda: v - w)

        _, final = tf1.while_loop(lambda i, v: i < 3, body, [tf.constant(0), x])
        return tf.reduce_sum(tf.square(final), name="loss"), _xs([w]) + [x]

    return build


def cases():
    with _v2():
        x_value = _rng(14).uniform(-1, 1, [3, 4]).astype(F32)
        _case(
            "gradients_cf2_if",
            "functional If on a fed predicate, a resource variable read in one branch only; gradients of the handles and the input with each branch taken",
            cond_build(13, resource=True),
            [{"x:0": x_value, "flag:0": np.array(taken)} for taken in (True, False)],
        )
        _case(
            "gradients_cf2_nested_if",
            "a StatelessIf inside a StatelessIf on data-dependent predicates, a tensor from outside used in the inner branch; each path taken once",
            nested_cond_build,
            NESTED_COND_FEEDS,
            with_variables=False,
        )
        _case(
            "gradients_cf2_while_rnn",
            "a tanh RNN over 5 steps as a functional While reading resource variables captured by its body; gradients of the handles, the initial state and the inputs",
            rnn_build(15, resource=True),
            rnn_feeds(16),
        )
        _case(
            "gradients_cf2_while_data_dependent",
            "a StatelessWhile whose trip count depends on the data, a StatelessIf in its body",
            data_dependent_build,
            [
                {"x:0": np.array([0.7, 1.1, 0.4], F32), "factor:0": np.array(1.3, F32)},
                {"x:0": np.array([4.0, 3.0, 4.0], F32), "factor:0": np.array(1.3, F32)},
            ],
            with_variables=False,
        )
        _case(
            "gradients_cf2_call",
            "a tf.function called in the graph (StatefulPartitionedCall) reading a captured resource variable; gradients of the handle and the input",
            call_build(17),
            [{"x:0": _rng(18).uniform(-1, 1, [3, 4]).astype(F32)}],
        )
        _case(
            "gradients_cf2_while_call",
            "a functional While whose body calls a tf.function (an RNN cell reading captured resource variables) once per iteration",
            while_call_build(19),
            [{"state0:0": _rng(20).uniform(-1, 1, [2, 4]).astype(F32)}],
        )
        _case(
            "gradients_cf2_while_stateful_if",
            "a functional While whose body holds a stateful If (a branch reads a resource variable) on a data-dependent predicate; both branches taken",
            while_stateful_if_build(21),
            [{"x:0": np.array([0.5, -0.2, 0.3], F32)}, {"x:0": np.array([-0.9, 0.1, -0.4], F32)}],
        )
