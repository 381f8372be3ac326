"""Whole TF1 training programs, written the way tf.compat.v1 code writes them: each case runs a few
training steps in one session and records the loss of every step and the variables after it.

Initial values are either constants or seeded (`tf1.set_random_seed`), so TensorFlow's random
initializer ops are part of the graph and their values part of the expectation. Ref variables
(`use_resource=False`, TF1's default) and resource variables (`use_resource=True`, Keras' and
TF2's) both appear, since an optimizer writes different ops for each (`ApplyAdam` against
`ResourceApplyAdam`, `ScatterSub` against `ResourceScatterAdd`, ...).

Cases whose graph holds control flow (`Switch`/`Merge` or a functional `If`) start with
`controlflow_`: Weft runs them once control flow lands.
"""
import contextlib
import socket

import numpy as np
import tensorflow as tf
from tensorflow.python.ops.resource_variable_ops import is_resource_variable

import lib
from lib import Case, tf1

try:
    import tf_keras
    from tf_keras.api._v1.keras.__internal__.legacy import layers as tf1_layers
except ImportError as error:  # tf.compat.v1.layers and tf_keras need Keras 2 beside TensorFlow's Keras 3
    raise SystemExit(
        "cases_programs needs tf_keras (Keras 2) in the TensorFlow venv: "
        f"pip install tf_keras=={tf.__version__}"
    ) from error

# Several optimizer steps compound float32 rounding: sums of products taken in another order
# (BLAS against Eigen) differ in the last bits, and each step feeds the next.
TRAINING_TOLERANCE = {"rtol": 1e-4, "atol": 1e-6}
TOLERANCE_REASON = (
    " Tolerance 1e-4 relative, 1e-6 absolute: the steps compound float32 rounding of sums "
    "taken in another order."
)


def _readable(variable):
    """The tensor a session fetches for a variable: a ref variable's own output, or a resource
    variable's `Read/ReadVariableOp` that TensorFlow creates with it."""
    if is_resource_variable(variable):
        return variable._graph_element
    return variable


def _train(case, loss, train_op, variables, batches, extra_fetches=(), after=(), uninitialized=False):
    """One session: initialize, read the variables, then per batch a training step (fetching
    the loss computed before the update) followed by a step that reads every variable.
    `after` appends further steps (e.g. inference with the trained variables). With
    `uninitialized`, a second session trains without initializing, which TensorFlow refuses."""
    init = tf1.global_variables_initializer()
    reads = [_readable(v) for v in variables]
    steps = [case.step(targets=[init]), case.step(fetches=reads)]
    for feeds in batches:
        steps.append(case.step(fetches=[loss, *extra_fetches], feeds=feeds, targets=[train_op]))
        steps.append(case.step(fetches=reads))
    steps.extend(after)
    case.session(steps)
    if uninitialized:
        case.session([case.step(fetches=[loss], feeds=batches[0], targets=[train_op])])


@contextlib.contextmanager
def _control_flow(v2):
    """Builds with TF1's `Switch`/`Merge` control flow (`v2=False`) or TF2's functional ops."""
    was = tf1.control_flow_v2_enabled()
    (tf1.enable_control_flow_v2 if v2 else tf1.disable_control_flow_v2)()
    try:
        yield
    finally:
        (tf1.enable_control_flow_v2 if was else tf1.disable_control_flow_v2)()


def _free_port():
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        return probe.getsockname()[1]


class _ClusterV1:
    """tf.compat.v1 with `Session` opened on a TensorFlow server (`lib.Case` opens local
    sessions, which refuse `/job:ps` devices); everything else is tf.compat.v1's."""

    def __init__(self, target):
        self._target = target

    def __getattr__(self, name):
        return getattr(tf1, name)

    def Session(self, **arguments):  # noqa: N802 (TensorFlow's name)
        return tf1.Session(self._target, **arguments)


@contextlib.contextmanager
def _in_process_cluster(ps_tasks=1, worker_tasks=2):
    """Sessions opened inside run on a fresh in-process cluster, their master on worker 0
    (fresh, so one case's variables never meet another's in the servers' containers)."""
    jobs = {"ps": ps_tasks, "worker": worker_tasks}
    spec = tf1.train.ClusterSpec({job: [f"localhost:{_free_port()}" for _ in range(n)] for job, n in jobs.items()})
    servers = {
        (job, task): tf1.train.Server(spec, job_name=job, task_index=task)
        for job, n in jobs.items()
        for task in range(n)
    }
    lib.tf1 = _ClusterV1(servers[("worker", 0)].target)
    try:
        yield
    finally:
        lib.tf1 = tf1


def _rng(seed):
    return np.random.RandomState(seed)


def _f32(array):
    return np.asarray(array, dtype=np.float32)


# MARK: linear and logistic regression


def _linear_regression():
    note = (
        "Linear regression y = xW + b on ref variables (VariableV2) initialized to zeros, "
        "mean squared error, GradientDescentOptimizer(0.1) with a global step; four steps on "
        "different batches, the loss and W, b, global_step after each. A second session trains "
        "without running the initializer: FailedPrecondition." + TOLERANCE_REASON
    )
    with Case("program_linear_regression_sgd", note, **TRAINING_TOLERANCE) as c:
        x = tf1.placeholder(tf.float32, [None, 3], name="x")
        y = tf1.placeholder(tf.float32, [None, 1], name="y")
        with tf1.variable_scope("linear", use_resource=False):
            w = tf1.get_variable("w", [3, 1], initializer=tf1.zeros_initializer())
            b = tf1.get_variable("b", [1], initializer=tf1.zeros_initializer())
        global_step = tf1.train.get_or_create_global_step()
        prediction = tf.add(tf.matmul(x, w), b, name="prediction")
        loss = tf.reduce_mean(tf.square(prediction - y), name="loss")
        train = tf1.train.GradientDescentOptimizer(0.1).minimize(loss, global_step=global_step, name="train")
        rng = _rng(0)
        true_w = _f32([[1.0], [-2.0], [0.5]])
        batches = []
        for _ in range(4):
            xs = _f32(rng.randn(8, 3))
            batches.append({x: xs, y: _f32(xs @ true_w + 0.3 + 0.05 * rng.randn(8, 1))})
        _train(c, loss, train, [w, b, global_step], batches, uninitialized=True)


# Optimizers of tf1.train as a logistic regression trains with them: name, builder, what it is.
_OPTIMIZERS = [
    ("sgd", lambda: tf1.train.GradientDescentOptimizer(0.5), "GradientDescentOptimizer(0.5)"),
    ("momentum", lambda: tf1.train.MomentumOptimizer(0.1, 0.9), "MomentumOptimizer(0.1, momentum 0.9)"),
    (
        "momentum_nesterov",
        lambda: tf1.train.MomentumOptimizer(0.1, 0.9, use_nesterov=True),
        "MomentumOptimizer(0.1, momentum 0.9, use_nesterov)",
    ),
    ("adam", lambda: tf1.train.AdamOptimizer(0.05), "AdamOptimizer(0.05) with its beta1/beta2 power variables"),
    (
        "adagrad",
        lambda: tf1.train.AdagradOptimizer(0.3, initial_accumulator_value=0.1),
        "AdagradOptimizer(0.3, initial accumulator 0.1)",
    ),
    (
        "rmsprop",
        lambda: tf1.train.RMSPropOptimizer(0.05, decay=0.9, momentum=0.5),
        "RMSPropOptimizer(0.05, decay 0.9, momentum 0.5)",
    ),
    (
        "rmsprop_centered",
        lambda: tf1.train.RMSPropOptimizer(0.05, decay=0.9, centered=True),
        "RMSPropOptimizer(0.05, decay 0.9, centered)",
    ),
    (
        "adadelta",
        lambda: tf1.train.AdadeltaOptimizer(1.0, rho=0.95, epsilon=1e-6),
        "AdadeltaOptimizer(1.0, rho 0.95, epsilon 1e-6)",
    ),
    (
        "ftrl",
        lambda: tf1.train.FtrlOptimizer(0.3, l1_regularization_strength=0.01, l2_regularization_strength=0.01),
        "FtrlOptimizer(0.3, l1 0.01, l2 0.01)",
    ),
    (
        "ftrl_shrinkage",
        lambda: tf1.train.FtrlOptimizer(
            0.3, l1_regularization_strength=0.01, l2_shrinkage_regularization_strength=0.05
        ),
        "FtrlOptimizer(0.3, l1 0.01, l2 shrinkage 0.05: the V2 apply op)",
    ),
]


def _logistic_regression(key, make_optimizer, description, use_resource):
    kind = "resource" if use_resource else "ref"
    note = (
        f"Logistic regression (sigmoid cross-entropy with logits) on {kind} variables with "
        f"constant initial values, trained by {description}; three steps, the loss and every "
        "variable (slots included) after each. A second session trains without running the "
        "initializer: FailedPrecondition." + TOLERANCE_REASON
    )
    with Case(f"program_logistic_{key}_{kind}", note, **TRAINING_TOLERANCE) as c:
        x = tf1.placeholder(tf.float32, [None, 4], name="x")
        labels = tf1.placeholder(tf.float32, [None, 1], name="labels")
        with tf1.variable_scope("logistic", use_resource=use_resource):
            w = tf1.get_variable("w", initializer=_f32([[0.1], [-0.2], [0.3], [0.05]]))
            b = tf1.get_variable("b", [1], initializer=tf1.constant_initializer(0.1))
        logits = tf.add(tf.matmul(x, w), b, name="logits")
        loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits), name="loss")
        optimizer = make_optimizer()
        train = optimizer.minimize(loss, name="train")
        variables = tf1.global_variables()
        rng = _rng(1)
        batches = []
        for _ in range(3):
            xs = _f32(rng.randn(8, 4))
            ys = _f32((xs @ _f32([[2.0], [-1.0], [0.5], [1.5]]) > 0.2).astype(np.float32))
            batches.append({x: xs, labels: ys})
        _train(c, loss, train, variables, batches, uninitialized=True)


# MARK: multi-layer perceptrons and a CNN


def _dense(inputs, units, name, initializer, activation=None):
    """A fully connected layer as TF1 code writes it: get_variable, matmul, bias add."""
    with tf1.variable_scope(name):
        w = tf1.get_variable("kernel", [inputs.shape[-1], units], initializer=initializer)
        b = tf1.get_variable("bias", [units], initializer=tf1.zeros_initializer())
        out = tf.nn.bias_add(tf.matmul(inputs, w), b)
        return activation(out) if activation else out


def _mlp_softmax():
    note = (
        "MLP 6-16-3 on resource variables, seeded glorot-uniform and truncated-normal "
        "initializers (tf1.set_random_seed), relu, tf.nn.softmax_cross_entropy_with_logits on "
        "one-hot labels plus an L2 penalty, AdamOptimizer(0.01); accuracy fetched with the loss; "
        "three steps." + TOLERANCE_REASON
    )
    with Case("program_mlp_softmax_xent_adam", note, **TRAINING_TOLERANCE) as c:
        tf1.set_random_seed(7)
        x = tf1.placeholder(tf.float32, [None, 6], name="x")
        labels = tf1.placeholder(tf.float32, [None, 3], name="labels")
        with tf1.variable_scope("mlp", use_resource=True):
            hidden = _dense(x, 16, "hidden", tf1.glorot_uniform_initializer(), tf.nn.relu)
            logits = _dense(hidden, 3, "logits", tf1.truncated_normal_initializer(stddev=0.1))
        xent = tf.nn.softmax_cross_entropy_with_logits(labels=labels, logits=logits)
        penalty = 1e-3 * tf.add_n([tf.nn.l2_loss(v) for v in tf1.trainable_variables() if "kernel" in v.name])
        loss = tf.add(tf.reduce_mean(xent), penalty, name="loss")
        correct = tf.equal(tf.argmax(logits, 1), tf.argmax(labels, 1))
        accuracy = tf.reduce_mean(tf.cast(correct, tf.float32), name="accuracy")
        train = tf1.train.AdamOptimizer(0.01).minimize(loss, name="train")
        rng = _rng(2)
        batches = []
        for _ in range(3):
            classes = rng.randint(0, 3, size=10)
            batches.append({x: _f32(rng.randn(10, 6) + classes[:, None]), labels: _f32(np.eye(3)[classes])})
        _train(c, loss, train, tf1.global_variables(), batches, extra_fetches=[accuracy])


def _mlp_sparse_softmax():
    note = (
        "MLP 5-12-4 on ref variables, seeded random-normal and random-uniform initializers, "
        "tanh, tf.nn.sparse_softmax_cross_entropy_with_logits on int64 class ids, "
        "MomentumOptimizer(0.1, 0.9); the predicted classes (ArgMax) fetched with the loss; "
        "three steps." + TOLERANCE_REASON
    )
    with Case("program_mlp_sparse_softmax_xent_momentum", note, **TRAINING_TOLERANCE) as c:
        tf1.set_random_seed(11)
        x = tf1.placeholder(tf.float32, [None, 5], name="x")
        labels = tf1.placeholder(tf.int64, [None], name="labels")
        with tf1.variable_scope("mlp", use_resource=False):
            hidden = _dense(x, 12, "hidden", tf1.random_normal_initializer(stddev=0.3), tf.nn.tanh)
            logits = _dense(hidden, 4, "logits", tf1.random_uniform_initializer(-0.2, 0.2))
        loss = tf.reduce_mean(
            tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits), name="loss"
        )
        predicted = tf.argmax(tf.nn.softmax(logits), axis=1, name="predicted")
        train = tf1.train.MomentumOptimizer(0.1, 0.9).minimize(loss, name="train")
        rng = _rng(3)
        batches = []
        for _ in range(3):
            classes = rng.randint(0, 4, size=12)
            batches.append({x: _f32(rng.randn(12, 5) * 0.5 + classes[:, None] * 0.3), labels: classes.astype(np.int64)})
        _train(c, loss, train, tf1.global_variables(), batches, extra_fetches=[predicted])


def _tf1_losses():
    note = (
        "The tf1.losses idiom on ref variables: a 4-8-3 MLP whose kernels carry an L2 "
        "regularizer (REGULARIZATION_LOSSES), labels one-hot encoded from int32 ids (tf.one_hot), "
        "tf1.losses.softmax_cross_entropy with label_smoothing 0.1 and per-example weights "
        "(some 0), tf1.losses.get_total_loss adding the regularization, AdamOptimizer(0.01); "
        "three steps." + TOLERANCE_REASON
    )
    with Case("program_tf1_losses_label_smoothing_adam", note, **TRAINING_TOLERANCE) as c:
        tf1.set_random_seed(37)
        # A static batch size lets tf1.losses check the weights' broadcast while building;
        # with an unknown one it adds a runtime Assert under a cond (control flow).
        x = tf1.placeholder(tf.float32, [6, 4], name="x")
        ids = tf1.placeholder(tf.int32, [6], name="ids")
        weights = tf1.placeholder(tf.float32, [6], name="weights")

        def l2(w):
            return 1e-2 * tf.nn.l2_loss(w)

        with tf1.variable_scope("mlp", use_resource=False):
            w1 = tf1.get_variable("w1", [4, 8], initializer=tf1.glorot_uniform_initializer(), regularizer=l2)
            w2 = tf1.get_variable("w2", [8, 3], initializer=tf1.glorot_uniform_initializer(), regularizer=l2)
            logits = tf.matmul(tf.nn.elu(tf.matmul(x, w1)), w2)
        tf1.losses.softmax_cross_entropy(tf.one_hot(ids, 3), logits, weights=weights, label_smoothing=0.1)
        loss = tf.identity(tf1.losses.get_total_loss(), name="loss")
        train = tf1.train.AdamOptimizer(0.01).minimize(loss, name="train")
        rng = _rng(16)
        batches = []
        for _ in range(3):
            classes = rng.randint(0, 3, size=6)
            batches.append({
                x: _f32(rng.randn(6, 4) + classes[:, None]),
                ids: classes.astype(np.int32),
                weights: _f32([1, 0, 1, 0.5, 1, 0]),
            })
        _train(c, loss, train, tf1.global_variables(), batches)


def _cnn():
    note = (
        "Small CNN training on 2x8x8x3 images (NHWC): conv2d 3x3 SAME + bias + relu, "
        "max_pool 2x2, conv2d 3x3 VALID stride 1 + relu, flatten, dense to 4 logits, sparse "
        "softmax cross-entropy; resource variables with seeded truncated-normal kernels, "
        "MomentumOptimizer(0.05, 0.9); two steps, the loss and every variable after each."
        + TOLERANCE_REASON
    )
    with Case("program_cnn_conv_pool_momentum", note, **TRAINING_TOLERANCE) as c:
        tf1.set_random_seed(5)
        images = tf1.placeholder(tf.float32, [2, 8, 8, 3], name="images")
        labels = tf1.placeholder(tf.int32, [2], name="labels")
        with tf1.variable_scope("cnn", use_resource=True):
            kernels = tf1.truncated_normal_initializer(stddev=0.2)
            k1 = tf1.get_variable("conv1/kernel", [3, 3, 3, 8], initializer=kernels)
            b1 = tf1.get_variable("conv1/bias", [8], initializer=tf1.constant_initializer(0.01))
            k2 = tf1.get_variable("conv2/kernel", [3, 3, 8, 8], initializer=kernels)
            b2 = tf1.get_variable("conv2/bias", [8], initializer=tf1.zeros_initializer())
            conv1 = tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(images, k1, strides=1, padding="SAME"), b1))
            pool1 = tf.nn.max_pool2d(conv1, ksize=2, strides=2, padding="VALID")
            conv2 = tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(pool1, k2, strides=1, padding="VALID"), b2))
            flat = tf.reshape(conv2, [-1, 2 * 2 * 8])
            logits = _dense(flat, 4, "dense", tf1.glorot_uniform_initializer())
        loss = tf.reduce_mean(
            tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits), name="loss"
        )
        train = tf1.train.MomentumOptimizer(0.05, 0.9).minimize(loss, name="train")
        rng = _rng(4)
        batches = [{images: _f32(rng.rand(2, 8, 8, 3)), labels: np.array([1, 3], dtype=np.int32)} for _ in range(2)]
        _train(c, loss, train, tf1.global_variables(), batches)


# MARK: embeddings with sparse updates


def _embedding(optimizer_key, use_resource):
    kind = "resource" if use_resource else "ref"
    if optimizer_key == "adagrad":
        make, description = (
            lambda: tf1.train.AdagradOptimizer(0.5),
            "AdagradOptimizer(0.5): the embedding's gradient is IndexedSlices, deduplicated "
            "(Unique, UnsortedSegmentSum) and applied by the sparse Adagrad op",
        )
    else:
        make, description = (
            lambda: tf1.train.GradientDescentOptimizer(0.5),
            "GradientDescentOptimizer(0.5): the embedding's IndexedSlices gradient becomes a "
            "scatter (ScatterSub on a ref variable, ResourceScatterAdd on a resource one)",
        )
    note = (
        f"Bag-of-words classifier on {kind} variables: tf.nn.embedding_lookup of int32 ids "
        "(with repeated ids) into a seeded 20x4 table, mean over the sequence, dense to 2 "
        f"logits, sparse softmax cross-entropy, {description}; three steps." + TOLERANCE_REASON
    )
    with Case(f"program_embedding_{optimizer_key}_{kind}", note, **TRAINING_TOLERANCE) as c:
        tf1.set_random_seed(13)
        ids = tf1.placeholder(tf.int32, [None, 5], name="ids")
        labels = tf1.placeholder(tf.int32, [None], name="labels")
        with tf1.variable_scope("model", use_resource=use_resource):
            table = tf1.get_variable("embeddings", [20, 4], initializer=tf1.random_uniform_initializer(-0.5, 0.5))
            embedded = tf.nn.embedding_lookup(table, ids, name="lookup")
            pooled = tf.reduce_mean(embedded, axis=1)
            dense = tf1.constant_initializer([[0.3, -0.3], [-0.2, 0.2], [0.1, 0.4], [0.5, -0.1]])
            logits = _dense(pooled, 2, "dense", dense)
        loss = tf.reduce_mean(
            tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits), name="loss"
        )
        train = make().minimize(loss, name="train")
        sequences = [
            [[1, 2, 2, 7, 0], [3, 3, 3, 19, 5]],
            [[7, 1, 4, 4, 2], [19, 5, 6, 3, 8]],
            [[2, 2, 2, 2, 2], [0, 19, 0, 19, 11]],
        ]
        batches = [{ids: np.array(s, dtype=np.int32), labels: np.array([0, 1], dtype=np.int32)} for s in sequences]
        _train(c, loss, train, tf1.global_variables(), batches)


# MARK: batch normalization


def _batchnorm_conv():
    note = (
        "tf1.layers.batch_normalization on 4-D activations (the fused kernel), resource "
        "variables: a 1x1 conv, batch norm with training=True (a Python bool: no control "
        "flow), relu; the moving-average update ops run through control dependencies of the "
        "AdamOptimizer step. Two steps, then the same layer with training=False (shared "
        "variables) on a new batch." + TOLERANCE_REASON
    )
    with Case("program_batchnorm_fused_train_then_infer", note, **TRAINING_TOLERANCE) as c:
        tf1.set_random_seed(17)
        x = tf1.placeholder(tf.float32, [None, 4, 4, 3], name="x")
        target = tf1.placeholder(tf.float32, [None, 4, 4, 5], name="target")

        def network(training, reuse):
            with tf1.variable_scope("net", reuse=reuse, use_resource=True):
                kernel = tf1.get_variable("conv/kernel", [1, 1, 3, 5], initializer=tf1.glorot_uniform_initializer())
                conv = tf.nn.conv2d(x, kernel, strides=1, padding="SAME")
                normed = tf1_layers.batch_normalization(conv, momentum=0.9, training=training, name="bn")
                return tf.nn.relu(normed)

        trained = network(True, False)
        inferred = tf.identity(network(False, True), name="inference")
        loss = tf.reduce_mean(tf.square(trained - target), name="loss")
        with tf.control_dependencies(tf1.get_collection(tf1.GraphKeys.UPDATE_OPS)):
            train = tf1.train.AdamOptimizer(0.05).minimize(loss, name="train")
        rng = _rng(5)
        batches = [{x: _f32(rng.randn(2, 4, 4, 3) * 2 + 1), target: _f32(rng.rand(2, 4, 4, 5))} for _ in range(2)]
        after = [c.step(fetches=[inferred], feeds={x: _f32(rng.randn(2, 4, 4, 3))})]
        _train(c, loss, train, tf1.global_variables(), batches, after=after)


def _batchnorm_dense():
    note = (
        "tf1.layers.batch_normalization on 2-D activations (not fused: moments, rsqrt, "
        "scale and shift as separate ops) on ref variables, training=True in one tower and "
        "training=False sharing its variables in another; the update ops run as control "
        "dependencies of GradientDescentOptimizer(0.2). Three steps, then inference." + TOLERANCE_REASON
    )
    with Case("program_batchnorm_dense_ref_train_then_infer", note, **TRAINING_TOLERANCE) as c:
        x = tf1.placeholder(tf.float32, [None, 5], name="x")
        y = tf1.placeholder(tf.float32, [None, 1], name="y")

        def network(training, reuse):
            with tf1.variable_scope("net", reuse=reuse, use_resource=False):
                hidden = _dense(x, 6, "hidden", tf1.constant_initializer(np.linspace(-0.5, 0.5, 30).reshape(5, 6)))
                normed = tf.nn.relu(tf1_layers.batch_normalization(hidden, momentum=0.8, training=training, name="bn"))
                return _dense(normed, 1, "out", tf1.constant_initializer(np.linspace(0.4, -0.3, 6).reshape(6, 1)))

        trained = network(True, False)
        inferred = tf.identity(network(False, True), name="inference")
        loss = tf.reduce_mean(tf.square(trained - y), name="loss")
        with tf.control_dependencies(tf1.get_collection(tf1.GraphKeys.UPDATE_OPS)):
            train = tf1.train.GradientDescentOptimizer(0.2).minimize(loss, name="train")
        rng = _rng(6)
        batches = []
        for _ in range(3):
            xs = _f32(rng.randn(8, 5) * 3 + 2)
            batches.append({x: xs, y: _f32(xs.sum(axis=1, keepdims=True) * 0.1)})
        after = [c.step(fetches=[inferred], feeds={x: _f32(rng.randn(3, 5))})]
        _train(c, loss, train, tf1.global_variables(), batches, after=after)


def _batchnorm_training_tensor(v2):
    flavour = "a functional If (control flow v2)" if v2 else "Switch/Merge (TF1 control flow)"
    note = (
        "tf1.layers.batch_normalization with `training` a bool placeholder_with_default(False): "
        f"the layer chooses batch or moving statistics with {flavour}. Two training steps with "
        "training fed True (update ops as control dependencies of GradientDescentOptimizer), "
        "then inference with the default False." + TOLERANCE_REASON
    )
    name = f"controlflow_program_batchnorm_training_tensor_{'v2' if v2 else 'v1'}"
    with _control_flow(v2), Case(name, note, **TRAINING_TOLERANCE) as c:
        x = tf1.placeholder(tf.float32, [None, 4, 4, 2], name="x")
        training = tf1.placeholder_with_default(False, [], name="training")
        with tf1.variable_scope("net", use_resource=True):
            normed = tf1_layers.batch_normalization(x, momentum=0.5, training=training, name="bn")
        output = tf.identity(normed, name="output")
        loss = tf.reduce_mean(tf.square(output - 1.0), name="loss")
        with tf.control_dependencies(tf1.get_collection(tf1.GraphKeys.UPDATE_OPS)):
            train = tf1.train.GradientDescentOptimizer(0.3).minimize(loss, name="train")
        rng = _rng(7)
        batches = [{x: _f32(rng.randn(2, 4, 4, 2) * 2 + 3), training: True} for _ in range(2)]
        after = [c.step(fetches=[output], feeds={x: _f32(rng.randn(1, 4, 4, 2))})]
        _train(c, loss, train, tf1.global_variables(), batches, after=after)


# MARK: schedules, clipping, moving averages, dropout


def _decay_and_clipping():
    note = (
        "TF1 idioms around the optimizer on ref variables made with tf1.Variable from seeded "
        "tf.random.normal: tf1.train.exponential_decay(0.5, global_step, 2, 0.5, staircase) as "
        "the learning rate of MomentumOptimizer(momentum 0.8), gradients clipped by "
        "tf.clip_by_global_norm(1.0) before apply_gradients; the rate and the global norm "
        "fetched with the loss; four steps." + TOLERANCE_REASON
    )
    with Case("program_lr_decay_clip_global_norm_momentum", note, **TRAINING_TOLERANCE) as c:
        tf1.set_random_seed(23)
        x = tf1.placeholder(tf.float32, [None, 3], name="x")
        y = tf1.placeholder(tf.float32, [None, 2], name="y")
        w = tf1.Variable(tf.random.normal([3, 2], stddev=0.5), name="w", use_resource=False)
        b = tf1.Variable(tf.zeros([2]), name="b", use_resource=False)
        global_step = tf1.Variable(0, trainable=False, name="global_step", dtype=tf.int64, use_resource=False)
        loss = tf.reduce_mean(tf.square(tf.matmul(x, w) + b - y), name="loss")
        rate = tf1.train.exponential_decay(0.5, global_step, 2, 0.5, staircase=True, name="learning_rate")
        optimizer = tf1.train.MomentumOptimizer(rate, 0.8)
        gradients, variables = zip(*optimizer.compute_gradients(loss))
        clipped, norm = tf.clip_by_global_norm(gradients, 1.0)
        train = optimizer.apply_gradients(zip(clipped, variables), global_step=global_step, name="train")
        rng = _rng(12)
        batches = []
        for _ in range(4):
            xs = _f32(rng.randn(5, 3) * 2)
            batches.append({x: xs, y: _f32(xs @ _f32([[1, -1], [2, 0], [0, 3]]))})
        _train(c, loss, train, tf1.global_variables(), batches, extra_fetches=[rate, norm])


def _moving_average(use_resource):
    kind, flow = ("resource", "v2") if use_resource else ("ref", "v1")
    flavour = "functional If ops" if use_resource else "Switch/Merge"
    note = (
        f"tf1.train.ExponentialMovingAverage(0.9, num_updates=global_step) of {kind} variables "
        "kept beside GradientDescentOptimizer(0.1): the train op groups the apply with the "
        "average's update (under a control dependency on the apply), and the shadow variables "
        "are read after each of three steps. Control flow: a shadow variable's initial value is "
        f"a cond on whether its variable is initialized ({flavour})." + TOLERANCE_REASON
    )
    name = f"controlflow_program_ema_sgd_{kind}_{flow}"
    with _control_flow(use_resource), Case(name, note, **TRAINING_TOLERANCE) as c:
        x = tf1.placeholder(tf.float32, [None, 2], name="x")
        y = tf1.placeholder(tf.float32, [None, 1], name="y")
        with tf1.variable_scope("model", use_resource=use_resource):
            w = tf1.get_variable("w", initializer=_f32([[0.5], [-0.5]]))
            b = tf1.get_variable("b", initializer=_f32([0.2]))
            global_step = tf1.get_variable("global_step", initializer=np.int64(0), trainable=False)
        loss = tf.reduce_mean(tf.square(tf.matmul(x, w) + b - y), name="loss")
        apply = tf1.train.GradientDescentOptimizer(0.1).minimize(loss, global_step=global_step)
        average = tf1.train.ExponentialMovingAverage(0.9, num_updates=global_step)
        with tf.control_dependencies([apply]):
            train = tf.group(average.apply([w, b]), name="train")
        rng = _rng(13)
        batches = []
        for _ in range(3):
            xs = _f32(rng.randn(6, 2))
            batches.append({x: xs, y: _f32(xs @ _f32([[2.0], [1.0]]) - 1)})
        _train(c, loss, train, tf1.global_variables(), batches)


def _dropout():
    note = (
        "MLP 4-16-2 on resource variables with tf.nn.dropout(rate 0.25, seed 5) on the hidden "
        "layer during training: the seeded RandomUniform advances its Philox stream on every "
        "step of the session, so each step drops other units; GradientDescentOptimizer(0.3), "
        "three steps, then a fetch of the dropped activations (a fourth draw of the stream)."
        + TOLERANCE_REASON
    )
    with Case("program_mlp_dropout_seeded_sgd", note, **TRAINING_TOLERANCE) as c:
        tf1.set_random_seed(29)
        x = tf1.placeholder(tf.float32, [None, 4], name="x")
        labels = tf1.placeholder(tf.int32, [None], name="labels")
        with tf1.variable_scope("mlp", use_resource=True):
            hidden = _dense(x, 16, "hidden", tf1.glorot_uniform_initializer(), tf.nn.relu)
            dropped = tf.nn.dropout(hidden, rate=0.25, seed=5, name="dropout")
            logits = _dense(dropped, 2, "logits", tf1.glorot_uniform_initializer())
        loss = tf.reduce_mean(
            tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits), name="loss"
        )
        train = tf1.train.GradientDescentOptimizer(0.3).minimize(loss, name="train")
        rng = _rng(14)
        batches = []
        for _ in range(3):
            classes = rng.randint(0, 2, size=6)
            batches.append({x: _f32(rng.randn(6, 4) + classes[:, None]), labels: classes.astype(np.int32)})
        after = [c.step(fetches=[dropped], feeds={x: _f32(np.ones((2, 4)))})]
        _train(c, loss, train, tf1.global_variables(), batches, after=after)


# MARK: parameter-server towers, Saver, Keras


def _ps_towers(use_resource):
    kind = "resource" if use_resource else "ref"
    optimizer = "MomentumOptimizer(0.1, 0.9)" if use_resource else "GradientDescentOptimizer(0.2)"
    note = (
        f"Between-graph parameter-server style training on {kind} variables: the variables "
        "(and the apply ops) on /job:ps/task:0, two towers on /job:worker/task:0 and "
        "/job:worker/task:1 each computing a 4-8-1 MLP's gradients on its own batch; the "
        "gradients averaged on the ps (ExpandDims, ConcatV2, Mean, as the multi-tower "
        f"examples do) and applied by {optimizer}. Three steps." + TOLERANCE_REASON
    )
    with Case(f"program_ps_towers_{kind}", note, **TRAINING_TOLERANCE) as c:
        tf1.set_random_seed(19)
        with tf.device("/job:ps/task:0"), tf1.variable_scope("params", use_resource=use_resource):
            w1 = tf1.get_variable("w1", [4, 8], initializer=tf1.glorot_uniform_initializer())
            b1 = tf1.get_variable("b1", [8], initializer=tf1.zeros_initializer())
            w2 = tf1.get_variable("w2", [8, 1], initializer=tf1.glorot_uniform_initializer())
            b2 = tf1.get_variable("b2", [1], initializer=tf1.zeros_initializer())
            global_step = tf1.train.get_or_create_global_step()
        params = [w1, b1, w2, b2]
        optimizer_ = tf1.train.MomentumOptimizer(0.1, 0.9) if use_resource else tf1.train.GradientDescentOptimizer(0.2)
        feeds, tower_grads, tower_losses = [], [], []
        for task in range(2):
            with tf.device(f"/job:worker/task:{task}"), tf1.name_scope(f"tower_{task}"):
                x = tf1.placeholder(tf.float32, [None, 4], name="x")
                y = tf1.placeholder(tf.float32, [None, 1], name="y")
                hidden = tf.nn.relu(tf.matmul(x, w1) + b1)
                loss = tf.reduce_mean(tf.square(tf.matmul(hidden, w2) + b2 - y))
                tower_losses.append(loss)
                tower_grads.append(optimizer_.compute_gradients(loss, params))
                feeds.append((x, y))
        with tf.device("/job:ps/task:0"):
            averaged = []
            for pairs in zip(*tower_grads):
                stacked = tf.concat([tf.expand_dims(g, 0) for g, _ in pairs], axis=0)
                averaged.append((tf.reduce_mean(stacked, axis=0), pairs[0][1]))
            train = optimizer_.apply_gradients(averaged, global_step=global_step, name="train")
            mean_loss = tf.reduce_mean(tf.stack(tower_losses), name="loss")
        rng = _rng(8)
        batches = []
        for _ in range(3):
            batch = {}
            for x, y in feeds:
                xs = _f32(rng.randn(4, 4))
                batch[x], batch[y] = xs, _f32(np.sin(xs).sum(axis=1, keepdims=True))
            batches.append(batch)
        with _in_process_cluster():
            _train(c, mean_loss, train, tf1.global_variables(), batches)


def _replica_device_setter():
    note = (
        "TF1's usual placement for parameter servers: tf1.train.replica_device_setter(ps_tasks=2, "
        "worker_device=/job:worker/task:0) spreads the ref variables of a 6-10-10-3 MLP round "
        "robin over /job:ps/task:0 and /job:ps/task:1 (and colocates their initializers and "
        "apply ops), the rest runs on the worker; softmax cross-entropy, AdagradOptimizer(0.2) "
        "with a global step; three steps." + TOLERANCE_REASON
    )
    with Case("program_replica_device_setter_two_ps", note, **TRAINING_TOLERANCE) as c:
        tf1.set_random_seed(31)
        setter = tf1.train.replica_device_setter(ps_tasks=2, worker_device="/job:worker/task:0")
        with tf1.device(setter):
            x = tf1.placeholder(tf.float32, [None, 6], name="x")
            labels = tf1.placeholder(tf.int64, [None], name="labels")
            with tf1.variable_scope("mlp", use_resource=False):
                h = _dense(x, 10, "layer1", tf1.glorot_uniform_initializer(), tf.nn.relu)
                h = _dense(h, 10, "layer2", tf1.glorot_uniform_initializer(), tf.nn.relu)
                logits = _dense(h, 3, "logits", tf1.glorot_uniform_initializer())
            global_step = tf1.train.get_or_create_global_step()
            loss = tf.reduce_mean(
                tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits), name="loss"
            )
            train = tf1.train.AdagradOptimizer(0.2).minimize(loss, global_step=global_step, name="train")
        rng = _rng(15)
        batches = []
        for _ in range(3):
            classes = rng.randint(0, 3, size=8)
            batches.append({x: _f32(rng.randn(8, 6) + classes[:, None]), labels: classes.astype(np.int64)})
        with _in_process_cluster(ps_tasks=2, worker_tasks=1):
            _train(c, loss, train, tf1.global_variables(), batches)


def _saver_graph():
    note = (
        "A training graph that also holds tf1.train.Saver()'s nodes (save/SaveV2, "
        "save/RestoreV2, save/Assign..., filename Const and string ops); only the training runs, "
        "never a save or restore. Ref variables, RMSPropOptimizer(0.01, momentum 0.9) on a "
        "3-4-2 MLP with softmax cross-entropy; three steps." + TOLERANCE_REASON
    )
    with Case("program_saver_nodes_train_only", note, **TRAINING_TOLERANCE) as c:
        x = tf1.placeholder(tf.float32, [None, 3], name="x")
        labels = tf1.placeholder(tf.float32, [None, 2], name="labels")
        with tf1.variable_scope("model", use_resource=False):
            hidden_kernel = tf1.constant_initializer(np.linspace(-1, 1, 12).reshape(3, 4))
            hidden = _dense(x, 4, "hidden", hidden_kernel, tf.nn.sigmoid)
            logits = _dense(hidden, 2, "out", tf1.constant_initializer(np.linspace(0.5, -0.5, 8).reshape(4, 2)))
        loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=labels, logits=logits), name="loss")
        global_step = tf1.train.get_or_create_global_step()
        train = tf1.train.RMSPropOptimizer(0.01, momentum=0.9).minimize(loss, global_step=global_step, name="train")
        tf1.train.Saver()
        rng = _rng(9)
        batches = []
        for _ in range(3):
            classes = rng.randint(0, 2, size=6)
            batches.append({x: _f32(rng.randn(6, 3) + classes[:, None]), labels: _f32(np.eye(2)[classes])})
        _train(c, loss, train, tf1.global_variables(), batches)


def _keras_regression():
    note = (
        "tf_keras (Keras 2) Sequential model in TF1 graph mode, no compile/fit: Dense(8, relu) "
        "and Dense(1) with seeded GlorotUniform kernels on resource variables, a "
        "tf_keras.losses.mean_squared_error loss and a tf1.train.AdamOptimizer(0.02) step over "
        "model.trainable_variables; two steps." + TOLERANCE_REASON
    )
    with Case("program_keras_dense_regression_adam", note, **TRAINING_TOLERANCE) as c:
        x = tf1.placeholder(tf.float32, [None, 4], name="x")
        y = tf1.placeholder(tf.float32, [None, 1], name="y")
        model = tf_keras.Sequential(
            [
                tf_keras.layers.Dense(
                    8, activation="relu", kernel_initializer=tf_keras.initializers.GlorotUniform(seed=1),
                    input_shape=(4,),
                ),
                tf_keras.layers.Dense(1, kernel_initializer=tf_keras.initializers.GlorotUniform(seed=2)),
            ]
        )
        prediction = model(x)
        loss = tf.reduce_mean(tf_keras.losses.mean_squared_error(y, prediction), name="loss")
        train = tf1.train.AdamOptimizer(0.02).minimize(loss, var_list=model.trainable_variables, name="train")
        rng = _rng(10)
        batches = []
        for _ in range(2):
            xs = _f32(rng.randn(6, 4))
            batches.append({x: xs, y: _f32(xs @ _f32([[0.5], [-1.0], [2.0], [0.1]]))})
        _train(c, loss, train, tf1.global_variables(), batches)


def _keras_classifier():
    note = (
        "tf_keras (Keras 2) functional model in TF1 graph mode: Dense(10, tanh), Dense(3, "
        "softmax), seeded initializers; tf_keras.losses.SparseCategoricalCrossentropy on the "
        "softmax output (clipping and log as Keras writes them) and a "
        "tf1.train.GradientDescentOptimizer(0.5) step; two steps." + TOLERANCE_REASON
    )
    with Case("program_keras_dense_classifier_sgd", note, **TRAINING_TOLERANCE) as c:
        x = tf1.placeholder(tf.float32, [None, 5], name="x")
        labels = tf1.placeholder(tf.int32, [None], name="labels")
        inputs = tf_keras.Input(shape=(5,))
        initializers = tf_keras.initializers
        hidden = tf_keras.layers.Dense(10, activation="tanh", kernel_initializer=initializers.HeNormal(seed=3))(inputs)
        outputs = tf_keras.layers.Dense(
            3, activation="softmax", kernel_initializer=initializers.RandomNormal(stddev=0.3, seed=4)
        )(hidden)
        model = tf_keras.Model(inputs, outputs)
        probabilities = model(x)
        loss = tf.identity(tf_keras.losses.SparseCategoricalCrossentropy()(labels, probabilities), name="loss")
        train = tf1.train.GradientDescentOptimizer(0.5).minimize(loss, var_list=model.trainable_variables, name="train")
        rng = _rng(11)
        batches = []
        for _ in range(2):
            classes = rng.randint(0, 3, size=6)
            batches.append({x: _f32(rng.randn(6, 5) + classes[:, None]), labels: classes.astype(np.int32)})
        _train(c, loss, train, tf1.global_variables(), batches)


def cases():
    _linear_regression()
    for key, make, description in _OPTIMIZERS:
        for use_resource in (False, True):
            _logistic_regression(key, make, description, use_resource)
    _mlp_softmax()
    _mlp_sparse_softmax()
    _tf1_losses()
    _cnn()
    for optimizer_key in ("adagrad", "sgd"):
        for use_resource in (False, True):
            _embedding(optimizer_key, use_resource)
    _batchnorm_conv()
    _batchnorm_dense()
    _decay_and_clipping()
    _moving_average(use_resource=False)
    _moving_average(use_resource=True)
    _dropout()
    _batchnorm_training_tensor(v2=False)
    _batchnorm_training_tensor(v2=True)
    _ps_towers(use_resource=False)
    _ps_towers(use_resource=True)
    _replica_device_setter()
    _saver_graph()
    _keras_regression()
    _keras_classifier()
