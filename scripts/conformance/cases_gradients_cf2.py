"""Gradients through TensorFlow 2.x's functional control flow: the models of
`cases_gradients_cf.py` built with control flow v2 (TensorFlow's default), so their `tf.cond`
and `tf.while_loop` are `If`/`StatelessIf` and `While`/`StatelessWhile` nodes calling functions
of the graph's library, with resource variables reaching the functions as captured handles.
TensorFlow's gradients come from a second build of each model, as there.
"""
import numpy as np

from cases_functional import _v2
from cases_gradients import F32, _rng
from cases_gradients_cf import (
    NESTED_COND_FEEDS,
    _case,
    cond_build,
    data_dependent_build,
    nested_cond_build,
    rnn_build,
    rnn_feeds,
)


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
