"""What Weft's Swift training API is checked against (Tests/WeftTests/OptimizerTests.swift and
SaverTests.swift), not graph cases for `weft conformance`:

- Tests/Conformance/optimizers/NAME.json: a tf1.train optimizer run for five steps on a fixed
  problem (linear or logistic regression with hand-written gradients, an embedding with sparse
  IndexedSlices gradients, or a small MLP trained with `minimize`): every global variable (slots and beta powers by TensorFlow's
  names) after initialization and after each step, and the loss before each step.
- Tests/Conformance/checkpoints/tf_saver/: a checkpoint and its `checkpoint` state file written
  by tf1.train.Saver, with the values it holds in tf_saver.json.

The other direction, TensorFlow reading what Weft writes, is check_weft_checkpoint.py.
"""
import json
import os
import shutil

import numpy as np
import tensorflow as tf

from lib import OUT, ONLY, encode, tf1

ROOT = os.path.normpath(os.path.join(OUT, "..", ".."))
OPTIMIZERS_DIR = os.path.join(OUT, "optimizers")
SAVER_DIR = "Tests/Conformance/checkpoints/tf_saver"
STEPS = 5


def _data():
    rng = np.random.RandomState(7)
    x = rng.uniform(-1, 1, (8, 3)).astype(np.float32)
    true_w = np.array([[0.5, -1.0], [2.0, 0.25], [-1.5, 1.0]], np.float32)
    y = (x @ true_w + rng.normal(0, 0.1, (8, 2))).astype(np.float32)
    labels = (x @ np.array([[1.5], [-2.0], [0.5]], np.float32) > 0).astype(np.float32)
    return x, y, labels


def _linear(x, y):
    """Least squares, loss = Σ err² / 2n, with its gradient written out."""
    w = tf1.Variable(np.linspace(-0.5, 0.5, 6, dtype=np.float32).reshape(3, 2), name="w", use_resource=False)
    b = tf1.Variable(np.array([0.1, -0.2], np.float32), name="b", use_resource=False)
    err = tf.matmul(x, w) + b - y
    n = float(x.shape[0])
    loss = tf.reduce_sum(err * err) / (2 * n)
    grads = [tf.matmul(x, err, transpose_a=True) / n, tf.reduce_sum(err, axis=[0]) / n]
    return loss, grads, [w, b]


def _mlp(x, y):
    """A 3-4-2 tanh network, mean squared error, trained with `minimize` (TensorFlow's gradients)."""
    rng = np.random.RandomState(3)
    w1 = tf1.Variable(rng.normal(0, 0.5, (3, 4)).astype(np.float32), name="w1", use_resource=False)
    b1 = tf1.Variable(np.zeros(4, np.float32), name="b1", use_resource=False)
    w2 = tf1.Variable(rng.normal(0, 0.5, (4, 2)).astype(np.float32), name="w2", use_resource=False)
    b2 = tf1.Variable(np.full(2, 0.1, np.float32), name="b2", use_resource=False)
    hidden = tf.tanh(tf.matmul(x, w1) + b1)
    loss = tf.reduce_mean(tf.square(tf.matmul(hidden, w2) + b2 - y))
    return loss, None, [w1, b1, w2, b2]


def _logistic(x, labels):
    """Logistic regression, mean log loss, with its gradient written out."""
    w = tf1.Variable(np.array([[0.2], [-0.1], [0.3]], np.float32), name="w", use_resource=False)
    b = tf1.Variable(np.array([0.05], np.float32), name="b", use_resource=False)
    p = tf.sigmoid(tf.matmul(x, w) + b)
    loss = -tf.reduce_mean(labels * tf.math.log(p) + (1 - labels) * tf.math.log(1 - p))
    n = float(x.shape[0])
    grads = [tf.matmul(x, p - labels, transpose_a=True) / n, tf.reduce_sum(p - labels, axis=[0]) / n]
    return loss, grads, [w, b]


SPARSE_FEEDS = [
    ([0, 3], [[0.5, -1.0, 0.25], [1.0, 0.5, -0.5]]),
    ([4, 4, 1], [[0.1, 0.2, 0.3], [0.3, -0.2, 0.1], [-1.0, 0.0, 1.0]]),
    ([2], [[0.75, -0.75, 0.5]]),
    ([0, 5, 0], [[-0.5, 0.5, 0.0], [0.2, 0.2, 0.2], [1.0, -1.0, 0.5]]),
    ([3, 1], [[0.0, 0.4, -0.4], [0.6, -0.1, 0.2]]),
]

OPTIMIZERS = {
    "gradient_descent": lambda: tf1.train.GradientDescentOptimizer(0.1),
    "momentum": lambda: tf1.train.MomentumOptimizer(0.1, 0.9),
    "momentum_nesterov": lambda: tf1.train.MomentumOptimizer(0.05, 0.8, use_nesterov=True),
    "adam": lambda: tf1.train.AdamOptimizer(0.1, 0.8, 0.95, 1e-3),
    "adagrad": lambda: tf1.train.AdagradOptimizer(0.2, initial_accumulator_value=0.5),
    "rmsprop": lambda: tf1.train.RMSPropOptimizer(0.05, decay=0.8, momentum=0.5, epsilon=1e-3),
    "rmsprop_centered": lambda: tf1.train.RMSPropOptimizer(0.05, decay=0.8, momentum=0.3, epsilon=1e-2, centered=True),
    "rmsprop_plain": lambda: tf1.train.RMSPropOptimizer(0.01),
}

# name: (problem, optimizer, schedule); schedules use the global step, which the step advances.
CASES = {
    f"{problem}_{name}": (problem, name, None)
    for problem in ("linear", "logistic", "sparse", "mlp") for name in OPTIMIZERS
}
CASES.update({
    "linear_gradient_descent_piecewise_constant": ("linear", "gradient_descent", "piecewise"),
    "linear_momentum_exponential_decay_clipped": ("linear", "momentum", "exponential"),
    "logistic_adam_staircase_decay": ("logistic", "adam", "staircase"),
})


def _schedule(kind, step):
    if kind == "piecewise":
        return tf1.train.piecewise_constant(step, [1, 3], [0.2, 0.1, 0.02])
    if kind == "exponential":
        return tf1.train.exponential_decay(0.2, step, 3, 0.5)
    return tf1.train.exponential_decay(0.1, step, 2, 0.5, staircase=True)


def _optimizer(name, learning_rate):
    """The optimizer of OPTIMIZERS with another learning rate (a schedule)."""
    made = OPTIMIZERS[name]()
    made._learning_rate = learning_rate
    if hasattr(made, "_lr"):
        made._lr = learning_rate
    return made


def _optimizer_case(name, problem, optimizer_name, schedule):
    x, y, labels = _data()
    document = {"problem": problem, "optimizer": optimizer_name, "schedule": schedule,
                "x": encode(x), "y": encode(y), "labels": encode(labels), "steps": []}
    with tf.Graph().as_default():
        feeds = [{} for _ in range(STEPS)]
        step = tf1.train.create_global_step() if schedule else None
        if problem == "sparse":
            table = tf1.Variable(np.linspace(-1, 1, 18, dtype=np.float32).reshape(6, 3), name="embedding", use_resource=False)
            indices = tf1.placeholder(tf.int32, [None], name="indices")
            rows = tf1.placeholder(tf.float32, [None, 3], name="rows")
            pairs = [(tf.IndexedSlices(rows, indices, tf.constant([6, 3])), table)]
            loss = None
            feeds = [{indices: np.array(i, np.int32), rows: np.array(r, np.float32)} for i, r in SPARSE_FEEDS]
            document["sparse_feeds"] = [{"indices": i, "rows": r} for i, r in SPARSE_FEEDS]
        else:
            make = {"linear": lambda: _linear(x, y), "logistic": lambda: _logistic(x, labels), "mlp": lambda: _mlp(x, y)}
            loss, grads, variables = make[problem]()
            norm = None
            if schedule == "exponential":
                grads, norm = tf.clip_by_global_norm(grads, 0.5)
            pairs = list(zip(grads, variables)) if grads else None
        optimizer = _optimizer(optimizer_name, _schedule(schedule, step)) if schedule else OPTIMIZERS[optimizer_name]()
        if pairs is None:
            train = optimizer.minimize(loss, global_step=step)
        else:
            train = optimizer.apply_gradients(pairs, global_step=step)
        variables = {v.op.name: v.value() for v in tf1.global_variables()}
        with tf1.Session() as sess:
            sess.run(tf1.global_variables_initializer())
            document["initial"] = {n: encode(v) for n, v in sorted(sess.run(variables).items())}
            for feed in feeds:
                entry = {}
                if loss is not None:
                    entry["loss"] = float(sess.run(loss))
                if schedule == "exponential":
                    entry["global_norm"] = float(sess.run(norm))
                sess.run(train, feed_dict=feed)
                entry["variables"] = {n: encode(v) for n, v in sorted(sess.run(variables).items())}
                document["steps"].append(entry)
    with open(os.path.join(OPTIMIZERS_DIR, name + ".json"), "w") as f:
        json.dump(document, f, indent=1, allow_nan=False)
        f.write("\n")


SAVER_VALUES = {
    "w": np.array([[1.5, -2.25, 3.0e-8], [0.0, -0.0, 7.125]], np.float32),
    "scope/bias": np.array([1.0 / 3, -2.0 / 7, 1e300], np.float64),
    "step": np.array(1234567890123, np.int64),
    "label": np.array("h\u00e9llo, checkpoint".encode(), dtype=object),
    "flags": np.array([True, False]),
    "counts": np.array([[1, -2], [2**31 - 1, -(2**31)]], np.int32),
}


def _saver_fixture():
    """tf1.train.Saver's checkpoint of ref variables of six dtypes, saved at global step 7 with
    a path relative to the repository, so the state file holds a relative path."""
    directory = os.path.join(ROOT, SAVER_DIR)
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory)
    with tf.Graph().as_default():
        variables = [tf1.Variable(tf.zeros_like(v) if v.dtype != object else "", name=n, use_resource=False)
                     for n, v in SAVER_VALUES.items()]
        assign = tf.group(*[v.assign(SAVER_VALUES[v.op.name]) for v in variables])
        saver = tf1.train.Saver()
        with tf1.Session() as sess:
            sess.run(tf1.global_variables_initializer())
            sess.run(assign)
            saver.save(sess, os.path.join(SAVER_DIR, "model"), global_step=7, write_meta_graph=False)
    values = {n: encode(v, "string" if v.dtype == object else None) for n, v in SAVER_VALUES.items()}
    with open(os.path.join(ROOT, SAVER_DIR + ".json"), "w") as f:
        json.dump({"prefix": "model-7", "values": values}, f, indent=1, allow_nan=False)
        f.write("\n")


def cases():
    os.makedirs(OPTIMIZERS_DIR, exist_ok=True)
    for name, (problem, optimizer, schedule) in CASES.items():
        if not ONLY or name in ONLY:
            _optimizer_case(name, problem, optimizer, schedule)
    previous = os.getcwd()
    os.chdir(ROOT)
    try:
        if not ONLY or "tf_saver" in ONLY:
            _saver_fixture()
    finally:
        os.chdir(previous)
