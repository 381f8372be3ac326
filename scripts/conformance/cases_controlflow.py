"""TF1 control flow in both of the forms TensorFlow 2.x's tf.compat.v1 writes (issue 20).

Every construct is built twice: `_v1` with TF1's dataflow ops (`Switch`, `Merge`, `Enter`,
`Exit`, `NextIteration`, `LoopCond`; `RefEnter`/`RefSwitch` for ref variables; the
`TensorArrayV3` family; `StackV2` for loop gradients), made with control flow v2 disabled, and
`_v2` with TF2's functional ops (`If`/`StatelessIf`, `While`/`StatelessWhile` calling functions of
the GraphDef's library; TensorList ops for TensorArrays). Steps fetch dense values only, never
the resource or variant handles.

Graphs stay small: they run in CI on two cores, locally and on clusters with every placement
strategy. `controlflow_bench_tanh_loop_*` is issue 20's benchmark loop (10,000 iterations).
"""
import contextlib

import numpy as np
import tensorflow as tf

from lib import Case, tf1

try:
    from tf_keras.api._v1.keras.__internal__.legacy import layers as tf1_layers
    from tf_keras.api._v1.keras.__internal__.legacy import rnn_cell
except ImportError as error:  # tf.compat.v1's layers and RNN cells live in Keras 2 (tf_keras)
    raise SystemExit(
        "cases_controlflow needs tf_keras (Keras 2) in the TensorFlow venv: "
        f"pip install tf_keras=={tf.__version__}"
    ) from error

FORMS = ("v1", "v2")
FORM_NOTE = {
    "v1": " Built with TF1 control flow (Switch/Merge/Enter/Exit/NextIteration/LoopCond).",
    "v2": " Built with control flow v2 (functional If/While ops calling library functions).",
}

# Several optimizer steps compound float32 rounding of sums taken in another order.
TRAINING_TOLERANCE = {"rtol": 1e-4, "atol": 1e-6}
TRAINING_REASON = (
    " Tolerance 1e-4 relative, 1e-6 absolute: gradients through the loop sum float32 products "
    "in another order, and the update feeds the next step."
)


@contextlib.contextmanager
def _case(name, form, note, **tolerance):
    """A `Case` named `name_form` whose graph is built with that form of control flow."""
    was = tf1.control_flow_v2_enabled()
    (tf1.enable_control_flow_v2 if form == "v2" else tf1.disable_control_flow_v2)()
    try:
        with Case(f"{name}_{form}", note + FORM_NOTE[form], **tolerance) as c:
            yield c
    finally:
        (tf1.enable_control_flow_v2 if was else tf1.disable_control_flow_v2)()


def _f32(array):
    return np.asarray(array, dtype=np.float32)


# MARK: cond and case


def _cond_dtypes(form):
    note = (
        "tf.cond on a fed bool returning a float32 vector, an int32, an int64, a bool and a "
        "string: the true branch computes from fed tensors, the false branch partly returns "
        "constants (which TF1 ties to the branch's pivot) and a tensor captured unchanged. Both "
        "branches, and an empty vector."
    )
    with _case("controlflow_cond_dtypes", form, note) as c:
        p = tf1.placeholder(tf.bool, [], name="p")
        x = tf1.placeholder(tf.float32, [None], name="x")
        n = tf1.placeholder(tf.int32, [], name="n")
        s = tf1.placeholder(tf.string, [], name="s")
        big = tf.constant(7, tf.int64, name="big")

        def taken():
            return (x * 2.0 + 1.0, n * n, big + tf.cast(n, tf.int64), n > 2, tf.strings.join([s, "!"]))

        def other():
            return (x - 1.0, tf.constant(-1), big, tf.constant(False), s)

        outputs = [tf.identity(o, name=f"out{i}") for i, o in enumerate(tf.cond(p, taken, other, name="cond"))]
        c.session([
            c.step(fetches=outputs, feeds={p: True, x: _f32([1, -2.5, 3]), n: 3, s: "yes"}),
            c.step(fetches=outputs, feeds={p: False, x: _f32([1, -2.5, 3]), n: 3, s: "no"}),
            c.step(fetches=outputs, feeds={p: True, x: _f32([]), n: -4, s: ""}),
            c.step(fetches=outputs, feeds={p: False, x: _f32([]), n: 0, s: "é"}),
        ])


def _cond_untaken_branch(form):
    note = (
        "Only the taken branch runs: the true branch divides the fed int32 n by the fed d "
        "(FloorDiv), so d = 0 fails with InvalidArgument when p is true and is harmless when p "
        "is false."
    )
    with _case("controlflow_cond_untaken_branch", form, note) as c:
        p = tf1.placeholder(tf.bool, [], name="p")
        n = tf1.placeholder(tf.int32, [], name="n")
        d = tf1.placeholder(tf.int32, [], name="d")
        y = tf.identity(tf.cond(p, lambda: tf.math.floordiv(n, d), lambda: n + 100, name="cond"), name="y")
        c.session([
            c.step(fetches=[y], feeds={p: True, n: 7, d: 2}),
            c.step(fetches=[y], feeds={p: False, n: 7, d: 0}),
            c.step(fetches=[y], feeds={p: True, n: 7, d: 0}),
        ])


def _cond_nested(form):
    note = (
        "A cond nested in each branch of an outer cond, on two fed bools; the inner conds "
        "capture tensors from outside both. All four combinations."
    )
    with _case("controlflow_cond_nested", form, note) as c:
        p = tf1.placeholder(tf.bool, [], name="p")
        q = tf1.placeholder(tf.bool, [], name="q")
        x = tf1.placeholder(tf.float32, [2, 2], name="x")
        w = tf.constant([[1.0, -1.0], [0.5, 2.0]], name="w")

        def outer_true():
            return tf.cond(q, lambda: tf.matmul(x, w), lambda: x + w, name="inner_true")

        def outer_false():
            return tf.cond(q, lambda: tf.square(x), lambda: tf.negative(w), name="inner_false")

        y = tf.identity(tf.cond(p, outer_true, outer_false, name="outer"), name="y")
        feed = _f32([[1, 2], [3, 4]])
        c.session([c.step(fetches=[y], feeds={p: a, q: b, x: feed}) for a in (True, False) for b in (True, False)])


def _case_default(form):
    note = (
        "tf.case with three (predicate, branch) pairs on a fed int32 and a default, "
        "exclusive=False: the first true predicate wins (x = -20 matches two). TensorFlow "
        "builds it as a chain of conds."
    )
    with _case("controlflow_case_default", form, note) as c:
        x = tf1.placeholder(tf.int32, [], name="x")
        branches = [
            (x < 0, lambda: tf.constant(-1.0) * tf.cast(x, tf.float32)),
            (tf.equal(x, 0), lambda: tf.constant(100.0)),
            (x < -10, lambda: tf.constant(-1000.0)),
        ]
        y = tf.identity(tf.case(branches, default=lambda: tf.cast(x * x, tf.float32), name="case"), name="y")
        c.session([c.step(fetches=[y], feeds={x: value}) for value in (-3, 0, -20, 5)])


def _case_exclusive(form):
    note = (
        "tf.case with exclusive=True: an Assert (inside a cond) checks that at most one "
        "predicate holds; x = -20 makes two true and the step fails with InvalidArgument."
    )
    with _case("controlflow_case_exclusive", form, note) as c:
        x = tf1.placeholder(tf.int32, [], name="x")
        branches = [
            (x < 0, lambda: x - 1),
            (tf.equal(x, 0), lambda: tf.constant(42)),
            (x < -10, lambda: x * 3),
        ]
        y = tf.identity(tf.case(branches, default=lambda: x + 1, exclusive=True, name="case"), name="y")
        c.session([c.step(fetches=[y], feeds={x: value}) for value in (-3, 0, 9, -20)])


# MARK: while_loop


def _while_counter(form):
    note = (
        "A counter loop: i from 0 while i < n (fed), also summing i; zero iterations for n <= "
        "0. A second loop caps the same count with maximum_iterations = 3."
    )
    with _case("controlflow_while_counter", form, note) as c:
        n = tf1.placeholder(tf.int32, [], name="n")
        i, total = tf.while_loop(lambda i, t: i < n, lambda i, t: (i + 1, t + i), (0, 0), name="loop")
        capped, _ = tf.while_loop(
            lambda i, t: i < n, lambda i, t: (i + 1, t), (0, 0), maximum_iterations=3, name="capped"
        )
        fetches = [tf.identity(i, name="i"), tf.identity(total, name="total"), tf.identity(capped, name="capped_i")]
        c.session([c.step(fetches=fetches, feeds={n: value}) for value in (5, 0, -2, 1)])


def _while_shape_invariants(form):
    note = (
        "Several loop variables, two of which grow: a float32 vector appended one element per "
        "iteration and an int64 matrix appended one row, under shape invariants [None] and "
        "[None, 2]; a float64 scalar and the int32 counter beside them."
    )
    with _case("controlflow_while_shape_invariants", form, note) as c:
        n = tf1.placeholder(tf.int32, [], name="n")

        def body(i, vec, mat, acc):
            f = tf.cast(i, tf.float32)
            k = tf.cast(i, tf.int64)
            row = tf.reshape(tf.stack([k, k * k]), [1, 2])
            return i + 1, tf.concat([vec, [f * 0.5]], 0), tf.concat([mat, row], 0), acc * 1.5 + tf.cast(f, tf.float64)

        start = (tf.constant(0), tf.constant([9.0]), tf.zeros([0, 2], tf.int64), tf.constant(1.0, tf.float64))
        invariants = (tf.TensorShape([]), tf.TensorShape([None]), tf.TensorShape([None, 2]), tf.TensorShape([]))
        outputs = tf.while_loop(lambda i, *_: i < n, body, start, shape_invariants=invariants, name="loop")
        fetches = [tf.identity(o, name=f"out{k}") for k, o in enumerate(outputs)]
        c.session([c.step(fetches=fetches, feeds={n: value}) for value in (4, 0)])


def _while_nested(form):
    note = (
        "Nested while_loops: the outer over i < n, the inner over j < i (its trip count depends "
        "on the outer index), accumulating 10 i + j and counting inner iterations."
    )
    with _case("controlflow_while_nested", form, note) as c:
        n = tf1.placeholder(tf.int32, [], name="n")

        def outer(i, acc, count):
            def inner(j, acc, count):
                return j + 1, acc + 10 * i + j, count + 1

            _, acc, count = tf.while_loop(lambda j, *_: j < i, inner, (0, acc, count), name="inner")
            return i + 1, acc, count

        _, acc, count = tf.while_loop(lambda i, *_: i < n, outer, (0, 0, 0), name="outer")
        fetches = [tf.identity(acc, name="acc"), tf.identity(count, name="count")]
        c.session([c.step(fetches=fetches, feeds={n: value}) for value in (5, 1, 0)])


def _while_parallel_iterations(form):
    note = (
        "while_loop with parallel_iterations=10 over 25 rows whose iterations are independent: "
        "each computes tanh(x[i] W) and writes it into a TensorArray; a running sum of the "
        "rows' totals beside it. Up to ten iterations may run at once; values must not depend on "
        "their order."
    )
    with _case("controlflow_while_parallel_iterations", form, note) as c:
        x = tf1.placeholder(tf.float32, [None, 3], name="x")
        w = tf.constant(_f32(np.linspace(-1, 1, 12).reshape(3, 4)), name="w")
        rows = tf.shape(x)[0]
        out = tf.TensorArray(tf.float32, size=rows, element_shape=[4])

        def body(i, out, total):
            y = tf.tanh(tf.matmul(tf.reshape(x[i], [1, 3]), w))[0]
            return i + 1, out.write(i, y), total + tf.reduce_sum(y)

        _, out, total = tf.while_loop(lambda i, *_: i < rows, body, (0, out, 0.0), parallel_iterations=10, name="loop")
        fetches = [tf.identity(out.stack(), name="stacked"), tf.identity(total, name="total")]
        rng = np.random.RandomState(20)
        c.session([c.step(fetches=fetches, feeds={x: _f32(rng.randn(25, 3))})])


def _while_in_cond(form):
    note = (
        "A while_loop inside a cond's true branch (doubling x while its sum is below a fed "
        "limit); the false branch subtracts one. The loop runs only when p is true."
    )
    with _case("controlflow_while_in_cond", form, note) as c:
        p = tf1.placeholder(tf.bool, [], name="p")
        x = tf1.placeholder(tf.float32, [3], name="x")
        limit = tf1.placeholder(tf.float32, [], name="limit")

        def doubled():
            steps, y = tf.while_loop(
                lambda k, y: tf.reduce_sum(y) < limit, lambda k, y: (k + 1, y * 2.0), (0, x), name="loop"
            )
            return steps, y

        steps, y = tf.cond(p, doubled, lambda: (tf.constant(-1), x - 1.0), name="cond")
        fetches = [tf.identity(steps, name="steps"), tf.identity(y, name="y")]
        feed = _f32([0.5, 1, 0.25])
        c.session([
            c.step(fetches=fetches, feeds={p: True, x: feed, limit: 100.0}),
            c.step(fetches=fetches, feeds={p: False, x: feed, limit: 100.0}),
            c.step(fetches=fetches, feeds={p: True, x: feed, limit: 0.0}),
        ])


def _cond_in_while(form):
    note = (
        "A cond inside a while_loop body whose condition depends on the cond's result: the "
        "Collatz sequence of a fed int32 (halve when even, else 3x + 1) until 1, counting steps "
        "(111 for 27) and tracking the largest value."
    )
    with _case("controlflow_cond_in_while", form, note) as c:
        start = tf1.placeholder(tf.int32, [], name="start")

        def body(x, count, peak):
            x = tf.cond(tf.equal(x % 2, 0), lambda: x // 2, lambda: 3 * x + 1, name="step")
            return x, count + 1, tf.maximum(peak, x)

        x, count, peak = tf.while_loop(lambda x, *_: x > 1, body, (start, 0, start), name="collatz")
        fetches = [tf.identity(x, name="x"), tf.identity(count, name="count"), tf.identity(peak, name="peak")]
        c.session([c.step(fetches=fetches, feeds={start: value}) for value in (27, 1, 6)])


def _while_error_in_body(form):
    note = (
        "A kernel error inside a loop body fails the step: iteration i computes 100 // (k - i) "
        "(FloorDiv on int32), which divides by zero once i reaches the fed k before n; the "
        "next step, with k out of reach, succeeds in the same session."
    )
    with _case("controlflow_while_error_in_body", form, note) as c:
        n = tf1.placeholder(tf.int32, [], name="n")
        k = tf1.placeholder(tf.int32, [], name="k")
        _, total = tf.while_loop(
            lambda i, t: i < n, lambda i, t: (i + 1, t + tf.math.floordiv(100, k - i)), (0, 0), name="loop"
        )
        total = tf.identity(total, name="total")
        c.session([
            c.step(fetches=[total], feeds={n: 4, k: 9}),
            c.step(fetches=[total], feeds={n: 6, k: 3}),
            c.step(fetches=[total], feeds={n: 3, k: 3}),
        ])


def _while_assign_variable(form):
    kind = "ref variable (VariableV2; RefEnter in the loop)" if form == "v1" else "resource variable"
    note = (
        f"A while_loop whose body reads a float32 {kind} and assigns it v * 0.5 + i each "
        "iteration (the read under a control dependency on the previous iteration's sum, the "
        "assign after the read), summing the assigned values. The variable keeps its value "
        "across steps of the session."
    )
    with _case("controlflow_while_assign_variable", form, note) as c:
        n = tf1.placeholder(tf.int32, [], name="n")
        v = tf1.Variable(8.0, name="v", use_resource=form == "v2")

        def body(i, total):
            # The read waits for the previous iteration's assign (through `total`): without it,
            # iterations overlap (parallel_iterations) and reads race with assigns.
            with tf.control_dependencies([total]):
                old = tf.identity(v.read_value())
            with tf.control_dependencies([old]):
                new = tf1.assign(v, old * 0.5 + tf.cast(i, tf.float32))
            return i + 1, total + new

        _, total = tf.while_loop(lambda i, t: i < n, body, (0, 0.0), name="loop")
        total = tf.identity(total, name="total")
        read = tf.identity(v.read_value(), name="read")
        init = tf1.global_variables_initializer()
        c.session([
            c.step(targets=[init]),
            c.step(fetches=[total], feeds={n: 3}),
            c.step(fetches=[read]),
            c.step(fetches=[total], feeds={n: 2}),
            c.step(fetches=[read]),
            c.step(fetches=[total], feeds={n: 0}),
        ])


# MARK: TensorArray


def _tensorarray_write_stack(form):
    note = (
        "TensorArrays written in a loop and stacked: one of fixed size n with element shape "
        "[2] written [i, i * i], one of dynamic size (size 0, growing) written 0.5 i; n = 0 "
        "stacks to empty results."
    )
    with _case("controlflow_tensorarray_write_stack", form, note) as c:
        n = tf1.placeholder(tf.int32, [], name="n")
        fixed = tf.TensorArray(tf.float32, size=n, element_shape=[2], name="fixed")
        grown = tf.TensorArray(tf.float32, size=0, dynamic_size=True, element_shape=[], name="grown")

        def body(i, fixed, grown):
            f = tf.cast(i, tf.float32)
            return i + 1, fixed.write(i, tf.stack([f, f * f])), grown.write(i, f * 0.5)

        _, fixed, grown = tf.while_loop(lambda i, *_: i < n, body, (0, fixed, grown), name="loop")
        fetches = [
            tf.identity(fixed.stack(), name="fixed_stacked"),
            tf.identity(grown.stack(), name="grown_stacked"),
            tf.identity(grown.size(), name="grown_size"),
        ]
        c.session([c.step(fetches=fetches, feeds={n: value}) for value in (4, 1, 0)])


def _tensorarray_unstack_read(form):
    note = (
        "A TensorArray unstacked from a fed [rows, 3] matrix and read row by row in a loop of "
        "n iterations (n fed), keeping a running sum and an elementwise maximum; n beyond the "
        "array's size fails the read with InvalidArgument."
    )
    with _case("controlflow_tensorarray_unstack_read", form, note) as c:
        x = tf1.placeholder(tf.float32, [None, 3], name="x")
        n = tf1.placeholder(tf.int32, [], name="n")
        rows = tf.TensorArray(tf.float32, size=tf.shape(x)[0], element_shape=[3], name="rows").unstack(x)

        def body(i, total, peak):
            row = rows.read(i)
            return i + 1, total + row, tf.maximum(peak, row)

        start = (0, tf.zeros([3]), tf.fill([3], -np.inf))
        _, total, peak = tf.while_loop(lambda i, *_: i < n, body, start, name="loop")
        fetches = [tf.identity(total, name="total"), tf.identity(peak, name="peak")]
        matrix = _f32(np.arange(12).reshape(4, 3) % 5 - 2)
        c.session([
            c.step(fetches=fetches, feeds={x: matrix, n: 4}),
            c.step(fetches=fetches, feeds={x: matrix, n: 2}),
            c.step(fetches=fetches, feeds={x: matrix, n: 5}),
        ])


def _tensorarray_gather_scatter(form):
    note = (
        "TensorArray scatter and gather: fed [k, 2] values scattered to fed indices of a "
        "5-element array (clear_after_read=False, as the loop and a gather both read it); a "
        "loop maps each element to 3 v + 1 into a second array (clear_after_read by default); "
        "both gathered at fed indices. The forms differ where TensorFlow's do: gathering an "
        "index of the second array twice fails with InvalidArgument in v1 (the first read "
        "cleared it) and not in v2; a scatter index beyond the size fails TensorArrayScatterV3 "
        "with InvalidArgument, while TensorListScatterIntoExistingList grows the list."
    )
    with _case("controlflow_tensorarray_gather_scatter", form, note) as c:
        values = tf1.placeholder(tf.float32, [None, 2], name="values")
        indices = tf1.placeholder(tf.int32, [None], name="indices")
        picks = tf1.placeholder(tf.int32, [None], name="picks")
        mapped_picks = tf1.placeholder(tf.int32, [None], name="mapped_picks")
        source = tf.TensorArray(tf.float32, size=5, element_shape=[2], clear_after_read=False, name="source")
        source = source.scatter(indices, values)
        mapped = tf.TensorArray(tf.float32, size=5, element_shape=[2], name="mapped")

        def body(i, mapped):
            return i + 1, mapped.write(i, source.read(i) * 3.0 + 1.0)

        _, mapped = tf.while_loop(lambda i, _: i < 5, body, (0, mapped), name="loop")
        fetches = [
            tf.identity(source.gather(picks), name="gathered"),
            tf.identity(mapped.gather(mapped_picks), name="mapped_gathered"),
        ]
        full = _f32(np.arange(10).reshape(5, 2) - 3.5)
        permutation = [3, 0, 4, 1, 2]
        runs = [
            (full, permutation, [4, 4, 0, 2], [4, 0, 2]),
            (full, [0, 1, 2, 3, 4], [], []),
            (full, permutation, [1], [3, 3]),
            (full[:2], [1, 7], [1], [1]),
        ]
        c.session([
            c.step(fetches=fetches, feeds={values: v, indices: i, picks: p, mapped_picks: m}) for v, i, p, m in runs
        ])


# MARK: dynamic_rnn


def _rnn_inputs():
    rng = np.random.RandomState(21)
    return _f32(rng.randn(2, 5, 3))


def _dynamic_rnn_forward(form):
    variables = "ref" if form == "v1" else "resource"
    note = (
        f"tf1.nn.dynamic_rnn of a BasicRNNCell(4) ({variables} variables, seeded glorot "
        "initializer) over [2, 5, 3] inputs with fed sequence lengths: outputs past a sequence's "
        "length are zeros and its final state is the one at its length. Lengths [5, 3], then "
        "[2, 0]."
    )
    with _case("controlflow_dynamic_rnn_forward", form, note) as c:
        tf1.set_random_seed(31)
        x = tf1.placeholder(tf.float32, [2, 5, 3], name="x")
        lengths = tf1.placeholder(tf.int32, [2], name="lengths")
        with tf1.variable_scope("rnn", use_resource=form == "v2", initializer=tf1.glorot_uniform_initializer(seed=3)):
            cell = rnn_cell.BasicRNNCell(4)
            outputs, state = tf1.nn.dynamic_rnn(cell, x, sequence_length=lengths, dtype=tf.float32)
        fetches = [tf.identity(outputs, name="outputs"), tf.identity(state, name="state")]
        init = tf1.global_variables_initializer()
        inputs = _rnn_inputs()
        c.session([
            c.step(targets=[init]),
            c.step(fetches=fetches, feeds={x: inputs, lengths: [5, 3]}),
            c.step(fetches=fetches, feeds={x: inputs, lengths: [2, 0]}),
        ])


def _dynamic_rnn_train(form):
    variables = "ref" if form == "v1" else "resource"
    gradients = "StackV2 and TensorArrayGradV3" if form == "v1" else "a gradient While"
    note = (
        f"One-layer GRU training: tf1.nn.dynamic_rnn of a GRUCell(3) ({variables} variables, "
        "seeded initializers) over [2, 4, 2] inputs, a dense projection of the final state, mean "
        "squared error, GradientDescentOptimizer(0.5): gradients flow back through the loop "
        f"({gradients}). Two training steps, each fetching the loss before its update, and "
        "every variable after it." + TRAINING_REASON
    )
    with _case("controlflow_dynamic_rnn_gru_train", form, note, **TRAINING_TOLERANCE) as c:
        tf1.set_random_seed(32)
        x = tf1.placeholder(tf.float32, [2, 4, 2], name="x")
        y = tf1.placeholder(tf.float32, [2, 1], name="y")
        with tf1.variable_scope("gru", use_resource=form == "v2", initializer=tf1.glorot_uniform_initializer(seed=4)):
            cell = rnn_cell.GRUCell(3)
            _, state = tf1.nn.dynamic_rnn(cell, x, dtype=tf.float32)
            w = tf1.get_variable("w", [3, 1])
            b = tf1.get_variable("b", [1], initializer=tf1.zeros_initializer())
        loss = tf.reduce_mean(tf.square(tf.matmul(state, w) + b - y), name="loss")
        train = tf1.train.GradientDescentOptimizer(0.5).minimize(loss, name="train")
        init = tf1.global_variables_initializer()
        reads = [
            tf.identity(v.read_value(), name="read_" + v.op.name.replace("/", "_")) for v in tf1.global_variables()
        ]
        rng = np.random.RandomState(22)
        steps = [c.step(targets=[init]), c.step(fetches=reads)]
        for _ in range(2):
            feeds = {x: _f32(rng.randn(2, 4, 2)), y: _f32(rng.randn(2, 1))}
            steps += [c.step(fetches=[loss], feeds=feeds, targets=[train]), c.step(fetches=reads)]
        c.session(steps)


# MARK: batch normalization, functions, benchmark


def _batchnorm_training_switch(form):
    note = (
        "tf1.layers.batch_normalization with `training` a fed bool: the layer picks batch or "
        "moving statistics with a cond, and its update ops (run as targets) move the averages "
        "(momentum 0.5) only when training. Training, inference, training again, inference, "
        "with the moving mean and variance read after each."
    )
    with _case("controlflow_batchnorm_training_switch", form, note) as c:
        x = tf1.placeholder(tf.float32, [None, 3], name="x")
        training = tf1.placeholder(tf.bool, [], name="training")
        with tf1.variable_scope("net", use_resource=form == "v2"):
            normed = tf1_layers.batch_normalization(x, momentum=0.5, training=training, name="bn")
        output = tf.identity(normed, name="output")
        updates = tf1.get_collection(tf1.GraphKeys.UPDATE_OPS)
        moving = [v for v in tf1.global_variables() if "moving" in v.op.name]
        reads = [tf.identity(v.read_value(), name="read_" + v.op.name.split("/")[-1]) for v in moving]
        init = tf1.global_variables_initializer()
        rng = np.random.RandomState(23)
        steps = [c.step(targets=[init])]
        for flag in (True, False, True, False):
            batch = _f32(rng.randn(4, 3) * 2 + 1)
            steps.append(c.step(fetches=[output], feeds={x: batch, training: flag}, targets=updates))
            steps.append(c.step(fetches=reads))
        c.session(steps)


def _function_call():
    note = (
        "tf.function called from TF1 graph code: a stateless function becomes PartitionedCall "
        "and one that reads and assigns a resource variable StatefulPartitionedCall, their bodies "
        "in the library (the stateful one holding a functional If)."
    )
    with Case("controlflow_function_call_v2", note) as c:
        x = tf1.placeholder(tf.float32, [None], name="x")
        v = tf1.Variable(1.0, name="v", use_resource=True)

        @tf.function
        def scaled(a, k):
            return tf.tanh(a) * k

        @tf.function
        def accumulate(a):
            total = tf.reduce_sum(a)
            v.assign_add(tf.cond(total > 0, lambda: total, lambda: -total))
            return v.read_value()

        y = tf.identity(scaled(x, tf.constant(3.0)), name="y")
        z = tf.identity(accumulate(x), name="z")
        init = tf1.global_variables_initializer()
        c.session([
            c.step(targets=[init]),
            c.step(fetches=[y], feeds={x: _f32([0.5, -1, 2])}),
            c.step(fetches=[z], feeds={x: _f32([0.5, -1, 2])}),
            c.step(fetches=[z], feeds={x: _f32([-4, 1])}),
        ])


def _bench_tanh_loop(form):
    note = (
        "Issue 20's benchmark: a 10,000-iteration while_loop of a float32 scalar "
        "x = tanh(x + v) from x = 0, v fed (the iteration contracts to its fixed point, so "
        "float32 rounding does not accumulate)."
    )
    with _case("controlflow_bench_tanh_loop", form, note) as c:
        v = tf1.placeholder(tf.float32, [], name="v")
        _, x = tf.while_loop(lambda i, x: i < 10000, lambda i, x: (i + 1, tf.tanh(x + v)), (0, 0.0), name="loop")
        x = tf.identity(x, name="x")
        c.session([c.step(fetches=[x], feeds={v: value}) for value in (0.5, -1.0)])


def cases():
    builders = [
        _cond_dtypes,
        _cond_untaken_branch,
        _cond_nested,
        _case_default,
        _case_exclusive,
        _while_counter,
        _while_shape_invariants,
        _while_nested,
        _while_parallel_iterations,
        _while_in_cond,
        _cond_in_while,
        _while_error_in_body,
        _while_assign_variable,
        _tensorarray_write_stack,
        _tensorarray_unstack_read,
        _tensorarray_gather_scatter,
        _dynamic_rnn_forward,
        _dynamic_rnn_train,
        _batchnorm_training_switch,
        _bench_tanh_loop,
    ]
    for build in builders:
        for form in FORMS:
            build(form)
    _function_call()
