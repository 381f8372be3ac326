"""Functional control flow (TensorFlow 2's control flow v2 in graph mode), cases named
`controlflow_functional_<op>_<what>`: If, StatelessIf, Case, StatelessCase, While, StatelessWhile,
PartitionedCall and StatefulPartitionedCall calling functions of the GraphDef's library."""
import contextlib

import numpy as np
import tensorflow as tf

from lib import Case, tf1


@contextlib.contextmanager
def _v2():
    """Builds with control flow v2: conds and loops become functional ops."""
    was = tf1.control_flow_v2_enabled()
    tf1.enable_control_flow_v2()
    try:
        yield
    finally:
        (tf1.enable_control_flow_v2 if was else tf1.disable_control_flow_v2)()


def _ops(case):
    return {op.type for op in case.graph.get_operations()}


def _expect(case, *types):
    missing = set(types) - _ops(case)
    assert not missing, f"{case.name}: TensorFlow did not write {missing}"


def cases():
    with _v2(), Case(
        "controlflow_functional_if_stateless_branches", "tf.cond on a fed bool: StatelessIf, both branches"
    ) as c:
        p = tf1.placeholder(tf.bool, [], name="p")
        x = tf1.placeholder(tf.float32, [None], name="x")
        y = tf.cond(p, lambda: x * 2.0 + 1.0, lambda: tf.reduce_sum(x) - x, name="y")
        _expect(c, "StatelessIf")
        xs = np.array([1.5, -2.0, 4.0], np.float32)
        c.session([c.step(fetches=[y], feeds={p: True, x: xs}), c.step(fetches=[y], feeds={p: False, x: xs})])

    with _v2(), Case(
        "controlflow_functional_if_several_outputs_empty",
        "tf.cond returning an int and a float tensor, on an empty input: StatelessIf with two outputs",
    ) as c:
        p = tf1.placeholder(tf.bool, [], name="p")
        x = tf1.placeholder(tf.float32, [None, 2], name="x")
        a, b = tf.cond(p, lambda: (tf.shape(x)[0], x + 1.0), lambda: (tf.constant(-1), x * 0.0), name="y")
        empty = np.zeros([0, 2], np.float32)
        c.session([c.step(fetches=[a, b], feeds={p: flag, x: empty}) for flag in (True, False)])

    with _v2(), Case(
        "controlflow_functional_if_stateful_assign",
        "tf.cond whose true branch assigns a resource variable (If, with the variable's handle as an input)",
    ) as c:
        v = tf1.get_variable("v", initializer=tf.constant([1.0, 2.0]), use_resource=True)
        p = tf1.placeholder(tf.bool, [], name="p")

        def bump():
            with tf.control_dependencies([v.assign_add([10.0, 20.0])]):
                return v.read_value() * 1.0

        y = tf.cond(p, bump, lambda: v.read_value() - 1.0, name="y")
        _expect(c, "If")
        init = tf1.global_variables_initializer()
        c.session(
            [
                c.step(targets=[init]),
                c.step(fetches=[y], feeds={p: False}),
                c.step(fetches=[y], feeds={p: True}),
                c.step(fetches=[y], feeds={p: True}),
                c.step(fetches=[v.read_value()]),
            ]
        )

    with _v2(), Case(
        "controlflow_functional_if_raw_truth",
        "tf.raw_ops.StatelessIf with non-bool conditions: a scalar is true when nonzero, a string when not "
        "empty, any other tensor when it has elements",
    ) as c:
        ci = tf1.placeholder(tf.int32, [], name="ci")
        cf = tf1.placeholder(tf.float32, [None], name="cf")
        cs = tf1.placeholder(tf.string, [], name="cs")
        then_fn = tf.function(lambda: tf.constant(1)).get_concrete_function()
        else_fn = tf.function(lambda: tf.constant(0)).get_concrete_function()
        for fn in (then_fn, else_fn):
            fn.add_to_graph(c.graph)
        outs = [
            tf.raw_ops.StatelessIf(cond=cond, input=[], Tout=[tf.int32], then_branch=then_fn, else_branch=else_fn,
                                   name=name)[0]
            for cond, name in ((ci, "by_int"), (cf, "by_vector"), (cs, "by_string"))
        ]
        c.session(
            [
                c.step(fetches=outs, feeds={ci: 0, cf: np.zeros([0], np.float32), cs: b""}),
                c.step(fetches=outs, feeds={ci: -3, cf: np.zeros([1], np.float32), cs: b"x"}),
            ]
        )

    with _v2(), Case(
        "controlflow_functional_if_branch_assert_fails",
        "tf.cond whose false branch holds a failing tf.debugging.Assert: the error crosses the If (InvalidArgument)",
    ) as c:
        p = tf1.placeholder(tf.bool, [], name="p")
        x = tf1.placeholder(tf.float32, [2], name="x")

        def guarded():
            with tf.control_dependencies([tf.debugging.Assert(tf.reduce_all(x > 0), [x], name="positive")]):
                return tf.identity(x)

        y = tf.cond(p, lambda: x + 1.0, guarded, name="y")
        xs = np.array([1.0, -1.0], np.float32)
        c.session([c.step(fetches=[y], feeds={p: True, x: xs}), c.step(fetches=[y], feeds={p: False, x: xs})])

    with _v2(), Case(
        "controlflow_functional_while_several_vars",
        "tf.while_loop with three loop variables (counter, running sum, growing product): StatelessWhile",
    ) as c:
        n = tf1.placeholder(tf.int32, [], name="n")
        x = tf1.placeholder(tf.float32, [3], name="x")
        i, total, product = tf.while_loop(
            lambda i, t, p: i < n,
            lambda i, t, p: (i + 1, t + x * tf.cast(i, tf.float32), p * 1.5),
            [tf.constant(0), tf.zeros([3]), tf.constant(1.0, tf.float64)],
            name="loop",
        )
        _expect(c, "StatelessWhile")
        xs = np.array([1.0, -2.0, 0.5], np.float32)
        c.session([c.step(fetches=[i, total, product], feeds={n: k, x: xs}) for k in (0, 1, 5)])

    with _v2(), Case(
        "controlflow_functional_while_nested", "a tf.while_loop inside another's body: nested StatelessWhile"
    ) as c:
        n = tf1.placeholder(tf.int32, [], name="n")

        def outer_body(i, acc):
            _, inner = tf.while_loop(lambda j, s: j < i, lambda j, s: (j + 1, s + j), [0, 0], name="inner")
            return i + 1, acc + inner

        i, acc = tf.while_loop(lambda i, acc: i < n, outer_body, [0, 0], name="outer")
        c.session([c.step(fetches=[i, acc], feeds={n: k}) for k in (0, 4, 9)])

    with _v2(), Case(
        "controlflow_functional_while_resource_variable",
        "a tf.while_loop whose body reads and assigns a resource variable (While, the handle a loop input)",
    ) as c:
        v = tf1.get_variable("v", initializer=tf.constant(1.0), use_resource=True)
        n = tf1.placeholder(tf.int32, [], name="n")

        def body(i):
            with tf.control_dependencies([v.assign(v.read_value() * 2.0 + 1.0)]):
                return i + 1

        (loop,) = tf.while_loop(lambda i: i < n, body, [0], name="loop")
        _expect(c, "While")
        init = tf1.global_variables_initializer()
        c.session(
            [
                c.step(targets=[init]),
                c.step(fetches=[loop], feeds={n: 3}),
                c.step(fetches=[v.read_value()]),
                c.step(fetches=[loop], feeds={n: 2}),
                c.step(fetches=[v.read_value()]),
            ]
        )

    with _v2(), Case(
        "controlflow_functional_case_default_branch",
        "tf.switch_case on a fed index, out-of-range indices taking the last (default) branch: StatelessCase",
    ) as c:
        k = tf1.placeholder(tf.int32, [], name="k")
        x = tf1.placeholder(tf.float32, [2], name="x")
        y = tf.switch_case(k, [lambda: x + 1.0, lambda: x * x, lambda: -x], name="y")
        _expect(c, "StatelessCase")
        xs = np.array([3.0, -0.5], np.float32)
        c.session([c.step(fetches=[y], feeds={k: i, x: xs}) for i in (0, 1, 2, 3, -1)])

    with _v2(), Case(
        "controlflow_functional_partitioned_call",
        "a tf.function called from graph code (PartitionedCall) and one that assigns a variable "
        "(StatefulPartitionedCall), the second calling the first",
    ) as c:
        v = tf1.get_variable("v", initializer=tf.constant([0.5, 1.0]), use_resource=True)
        x = tf1.placeholder(tf.float32, [2], name="x")

        @tf.function
        def affine(a):
            return a * 3.0 - 1.0, tf.reduce_max(a)

        @tf.function
        def update(a):
            y, top = affine(a)
            v.assign_add(y)
            return v.read_value() + top

        y, top = affine(x)
        z = update(x)
        _expect(c, "PartitionedCall", "StatefulPartitionedCall")
        init = tf1.global_variables_initializer()
        xs = np.array([2.0, -1.0], np.float32)
        c.session([c.step(targets=[init]), c.step(fetches=[y, top], feeds={x: xs}), c.step(fetches=[z], feeds={x: xs})])

    with Case(
        "controlflow_functional_optional_values",
        "tf.experimental.Optional, which control flow v2 gradients carry intermediates in: OptionalFromValue, "
        "OptionalNone, OptionalHasValue, OptionalGetValue, and ZerosLike of an optional; reading an empty one fails",
    ) as c:
        x = tf1.placeholder(tf.float32, [None], name="x")
        n = tf1.placeholder(tf.int32, [], name="n")
        full = tf.experimental.Optional.from_value((x, n))
        empty = tf.experimental.Optional.empty(tf.TensorSpec([], tf.float32))
        got_x, got_n = full.get_value()
        zeros = tf.raw_ops.OptionalGetValue(
            optional=tf.zeros_like(full._variant_tensor), output_types=[tf.float32, tf.int32],
            output_shapes=[[None], []], name="zeros")
        has = [tf.identity(full.has_value(), name="full_has"), tf.identity(empty.has_value(), name="empty_has")]
        missing = tf.identity(empty.get_value(), name="missing")
        xs = np.array([1.5, -2.0], np.float32)
        c.session(
            [
                c.step(fetches=[got_x, got_n, zeros[0], zeros[1]] + has, feeds={x: xs, n: 7}),
                c.step(fetches=[missing]),
            ]
        )
