"""Gradients: forward graphs (models and op mixes, float32) with the values TensorFlow's
`tf.gradients` computes for them.

Each case is an ordinary conformance case of the forward graph (the session initializes the
variables and fetches the ys), plus a `"gradients"` list in its JSON that Weft's gradient tests
read: per entry the `ys` and `xs` (tensor names in the forward graph), optional `grad_ys`
(placeholders of the forward graph, fed like the rest), the `unconnected` mode, the `feeds`,
the `targets` to run first (the initializer), optional `stop_gradients`, TensorFlow's gradient of every x (`expect`,
densified) and, for an x whose gradient TensorFlow returns as `IndexedSlices`, the slices
themselves (`slices`: values, indices, dense_shape). TensorFlow builds the gradients on a copy
of the graph, so the GraphDef written holds the forward graph only and Weft builds its own.
"""
import json
import os

import numpy as np
import tensorflow as tf

import lib
from lib import Case, tf1

F32 = np.float32
# Gradients are sums of products over a batch, taken in another order than TensorFlow's.
GRADIENT_TOLERANCE = {"rtol": 1e-4, "atol": 1e-6}


def _name(x):
    return x if isinstance(x, str) else x.name


class GradientCase(Case):
    """A case whose JSON also records `tf.gradients` values."""

    def __init__(self, name, note, **options):
        super().__init__(name, note, **options)
        self.gradient_entries = []

    def gradients(self, ys, xs, feeds, targets=(), grad_ys=None, unconnected="none", stop_gradients=()):
        """Builds `tf.gradients(ys, xs)` on a copy of the graph, runs it and records it."""
        graph = tf.Graph()
        with graph.as_default():
            tf.graph_util.import_graph_def(self.graph.as_graph_def(), name="")
            y_tensors = [graph.get_tensor_by_name(_name(y)) for y in ys]
            x_tensors = [graph.get_tensor_by_name(_name(x)) for x in xs]
            grad_y_tensors = [graph.get_tensor_by_name(_name(g)) for g in grad_ys] if grad_ys else None
            gradients = tf.gradients(
                y_tensors,
                x_tensors,
                grad_ys=grad_y_tensors,
                stop_gradients=[graph.get_tensor_by_name(_name(t)) for t in stop_gradients],
                unconnected_gradients=tf.UnconnectedGradients.ZERO if unconnected == "zero" else tf.UnconnectedGradients.NONE,
            )
            dense = [tf.convert_to_tensor(g) if g is not None else None for g in gradients]
            feed_dict = {graph.get_tensor_by_name(_name(k)): v for k, v in feeds.items()}
            with tf1.Session(graph=graph) as sess:
                for target in targets:
                    sess.run(graph.get_operation_by_name(_name(target).split(":")[0]), feed_dict=feed_dict)
                values = sess.run([d for d in dense if d is not None], feed_dict=feed_dict)
                sliced = [g for g in gradients if isinstance(g, tf.IndexedSlices)]
                slice_values = sess.run(
                    [(s.values, s.indices, s.dense_shape) for s in sliced], feed_dict=feed_dict
                )
        computed = iter(values)
        slices = iter(slice_values)
        entry = {
            "ys": [_name(y) for y in ys],
            "xs": [_name(x) for x in xs],
            "feeds": {_name(k): lib.encode(v) for k, v in feeds.items()},
            "targets": [_name(t).split(":")[0] for t in targets],
            "unconnected": unconnected,
            "expect": {},
            "slices": {},
        }
        if grad_ys:
            entry["grad_ys"] = [_name(g) for g in grad_ys]
        if stop_gradients:
            entry["stop_gradients"] = [_name(t) for t in stop_gradients]
        for x, gradient, d in zip(xs, gradients, dense):
            if d is None:
                entry["expect"][_name(x)] = None
                continue
            entry["expect"][_name(x)] = lib.encode(next(computed))
            if isinstance(gradient, tf.IndexedSlices):
                v, i, s = next(slices)
                entry["slices"][_name(x)] = {"values": lib.encode(v), "indices": lib.encode(i), "dense_shape": lib.encode(s)}
        self.gradient_entries.append(entry)

    def write(self):
        super().write()
        path = os.path.join(lib.OUT, self.name + ".json")
        with open(path) as f:
            document = json.load(f)
        document["gradients"] = self.gradient_entries
        document["gradient_tolerance"] = GRADIENT_TOLERANCE
        with open(path, "w") as f:
            json.dump(document, f, indent=1, allow_nan=False)
            f.write("\n")


def _rng(seed):
    return np.random.RandomState(seed)


def _var(rng, shape, name, resource=False, scale=0.5):
    return tf1.Variable(rng.uniform(-scale, scale, shape).astype(F32), name=name, use_resource=resource)


def _xs(variables):
    """What `tf.gradients` differentiates against for a variable: a ref variable's own output,
    a resource variable's handle."""
    return [v.handle if hasattr(v, "handle") and v.handle.dtype == tf.resource else v._ref() for v in variables]


def _forward_and_gradients(c, loss, variables, feeds, extra_xs=(), grad_ys=None):
    init = tf1.global_variables_initializer()
    c.session([c.step(targets=[init]), c.step(fetches=[loss], feeds=feeds)])
    c.gradients([loss], _xs(variables) + list(extra_xs), feeds, targets=[init], grad_ys=grad_ys)


def mlp():
    with GradientCase("gradients_mlp_softmax_cross_entropy", "MLP 6-5-4-3 (relu, tanh) with mean softmax cross-entropy on ref variables; gradients of every weight and of the input") as c:
        rng = _rng(1)
        x = tf1.placeholder(tf.float32, [4, 6], name="x")
        labels = tf1.placeholder(tf.float32, [4, 3], name="labels")
        w1, b1 = _var(rng, [6, 5], "w1"), _var(rng, [5], "b1")
        w2, b2 = _var(rng, [5, 4], "w2"), _var(rng, [4], "b2")
        w3, b3 = _var(rng, [4, 3], "w3"), _var(rng, [3], "b3")
        h1 = tf.nn.relu(tf.matmul(x, w1) + b1)
        h2 = tf.tanh(tf.nn.bias_add(tf.matmul(h1, w2), b2))
        logits = tf.matmul(h2, w3) + b3
        loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=labels, logits=logits), name="loss")
        onehot = np.eye(3, dtype=F32)[[0, 2, 1, 2]]
        feeds = {x: rng.uniform(-1, 1, [4, 6]).astype(F32), labels: onehot}
        _forward_and_gradients(c, loss, [w1, b1, w2, b2, w3, b3], feeds, extra_xs=[x])


def logistic_regression():
    with GradientCase("gradients_logistic_regression", "logistic regression on resource variables: sigmoid cross-entropy plus L2 penalty, gradients to the handles") as c:
        rng = _rng(2)
        x = tf1.placeholder(tf.float32, [8, 3], name="x")
        y = tf1.placeholder(tf.float32, [8, 1], name="y")
        w = _var(rng, [3, 1], "w", resource=True)
        b = _var(rng, [1], "b", resource=True)
        logits = tf.matmul(x, w) + b
        loss = tf.add(
            tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=logits)),
            0.01 * tf.nn.l2_loss(w),
            name="loss",
        )
        feeds = {x: rng.normal(size=[8, 3]).astype(F32), y: (rng.uniform(size=[8, 1]) > 0.5).astype(F32)}
        _forward_and_gradients(c, loss, [w, b], feeds)


def cnn():
    with GradientCase("gradients_cnn", "CNN: conv (SAME) + bias + relu + max pool, conv (VALID, stride 2) + fused batch norm (training) + avg pool, dense layer, sparse softmax cross-entropy") as c:
        rng = _rng(3)
        images = tf1.placeholder(tf.float32, [2, 8, 8, 2], name="images")
        labels = tf1.placeholder(tf.int32, [2], name="labels")
        k1, c1 = _var(rng, [3, 3, 2, 4], "k1"), _var(rng, [4], "c1")
        k2 = _var(rng, [3, 3, 4, 4], "k2")
        gamma = tf1.Variable(np.linspace(0.5, 1.5, 4).astype(F32), name="gamma")
        beta = _var(rng, [4], "beta")
        wd, bd = _var(rng, [4, 3], "wd"), _var(rng, [3], "bd")
        h = tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(images, k1, strides=1, padding="SAME"), c1))
        h = tf.nn.max_pool2d(h, ksize=2, strides=2, padding="VALID")
        h = tf.nn.conv2d(h, k2, strides=2, padding="SAME")
        h, _, _ = tf1.nn.fused_batch_norm(h, gamma, beta, epsilon=1e-3, is_training=True)
        h = tf.nn.avg_pool2d(h, ksize=2, strides=2, padding="VALID")
        logits = tf.matmul(tf.reshape(h, [2, 4]), wd) + bd
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits), name="loss")
        feeds = {images: rng.uniform(-1, 1, [2, 8, 8, 2]).astype(F32), labels: np.array([2, 0], np.int32)}
        _forward_and_gradients(c, loss, [k1, c1, k2, gamma, beta, wd, bd], feeds, extra_xs=[images])


def depthwise():
    with GradientCase("gradients_depthwise_conv", "depthwise conv (stride 2, SAME) + relu6 + mean, gradients of input and filter") as c:
        rng = _rng(4)
        images = tf1.placeholder(tf.float32, [1, 6, 6, 3], name="images")
        k = _var(rng, [3, 3, 3, 2], "k")
        h = tf.nn.relu6(4 * tf.nn.depthwise_conv2d(images, k, strides=[1, 2, 2, 1], padding="SAME"))
        loss = tf.reduce_mean(tf.square(h), name="loss")
        feeds = {images: rng.uniform(-1, 1, [1, 6, 6, 3]).astype(F32)}
        _forward_and_gradients(c, loss, [k], feeds, extra_xs=[images])


def embedding(resource):
    kind = "resource" if resource else "ref"
    with GradientCase(f"gradients_embedding_{kind}", f"embedding lookup with repeated ids on a {kind} variable: TensorFlow's gradient of the table is IndexedSlices (recorded), the dense layer's is dense") as c:
        rng = _rng(5)
        ids = tf1.placeholder(tf.int32, [5], name="ids")
        table = _var(rng, [10, 4], "table", resource=resource)
        w = _var(rng, [4, 2], "w", resource=resource)
        embedded = tf.nn.embedding_lookup(table, ids)
        loss = tf.reduce_sum(tf.square(tf.matmul(embedded, w)), name="loss")
        feeds = {ids: np.array([3, 7, 3, 0, 9], np.int32)}
        _forward_and_gradients(c, loss, [table, w], feeds)


def embedding_partitioned():
    with GradientCase("gradients_embedding_partitioned", "embedding lookup over a table sharded in two ref variables (partition_strategy mod: DynamicPartition, a Gather per shard, DynamicStitch), then top-k and a segment sum; each shard's gradient is IndexedSlices") as c:
        rng = _rng(8)
        ids = tf1.placeholder(tf.int32, [6], name="ids")
        shards = [_var(rng, [3, 4], "shard_0"), _var(rng, [3, 4], "shard_1")]
        embedded = tf1.nn.embedding_lookup(shards, ids, partition_strategy="mod")
        top, _ = tf.math.top_k(embedded, k=2)
        pooled = tf.math.segment_sum(top, [0, 0, 1, 1, 1, 2])
        loss = tf.reduce_sum(tf.square(pooled), name="loss")
        feeds = {ids: np.array([5, 0, 2, 5, 3, 4], np.int32)}
        _forward_and_gradients(c, loss, shards, feeds)


def conv_transpose():
    with GradientCase("gradients_conv_transpose", "decoder: conv2d_transpose (Conv2DBackpropInput as a forward op, stride 2) + sigmoid, squared error; gradients of the filter and the code") as c:
        rng = _rng(9)
        code = tf1.placeholder(tf.float32, [2, 3, 3, 4], name="code")
        target = tf1.placeholder(tf.float32, [2, 6, 6, 2], name="target")
        k = _var(rng, [3, 3, 2, 4], "k")
        image = tf.sigmoid(tf.nn.conv2d_transpose(code, k, [2, 6, 6, 2], strides=2, padding="SAME"))
        loss = tf.reduce_mean(tf.math.squared_difference(image, target), name="loss")
        feeds = {code: rng.uniform(-1, 1, [2, 3, 3, 4]).astype(F32), target: rng.uniform(0, 1, [2, 6, 6, 2]).astype(F32)}
        _forward_and_gradients(c, loss, [k], feeds, extra_xs=[code])


def math_mix():
    with GradientCase("gradients_math_mix", "element-wise ops and reductions on one graph: pow, maximum/minimum, squared difference, division, sqrt/rsqrt, log1p, softplus, elu/selu/leaky relu, sigmoid, reduce max/min/prod, softmax/log softmax, with given grad_ys") as c:
        rng = _rng(6)
        a = tf1.placeholder(tf.float32, [3, 4], name="a")
        b = tf1.placeholder(tf.float32, [4], name="b")
        p = tf1.placeholder(tf.float32, [3, 1], name="p")
        g = tf1.placeholder(tf.float32, [3], name="grad_y")
        t1 = tf.pow(p, a) + tf.maximum(a, b) * tf.minimum(a, -b) + tf.math.squared_difference(a, b)
        t2 = tf.math.divide(a, p) + tf.sqrt(p) * tf.math.rsqrt(p + 1.0) + tf.math.log1p(tf.abs(a))
        t3 = tf.nn.softplus(a) + tf.nn.elu(b) + tf.nn.selu(a) + tf.nn.leaky_relu(a, alpha=0.1) + tf.sigmoid(b)
        t4 = tf.reduce_max(a, axis=1) + tf.reduce_min(a * b, axis=-1) + tf.reduce_prod(p + a, axis=1)
        t5 = tf.reduce_sum(tf.nn.softmax(a) * tf.nn.log_softmax(a + b), axis=1)
        y = tf.identity(tf.reduce_sum(t1 + t2 + t3, axis=1) + t4 + t5, name="y")
        feeds = {
            a: rng.uniform(-2, 2, [3, 4]).astype(F32),
            b: rng.uniform(-1, 1, [4]).astype(F32),
            p: rng.uniform(0.5, 2, [3, 1]).astype(F32),
            g: np.array([1.0, -2.0, 0.5], F32),
        }
        c.session([c.step(fetches=[y], feeds=feeds)])
        c.gradients([y], [a, b, p], feeds, grad_ys=[g])


def array_mix():
    with GradientCase("gradients_array_mix", "ops that move elements: concat, stack/unstack, slice, strided slice, tile, pad, mirror pad, transpose, expand dims/squeeze, where, cumsum, reverse, broadcast_to, gather along axis 1, batch matmul; an unconnected x gets zeros") as c:
        rng = _rng(7)
        a = tf1.placeholder(tf.float32, [2, 3, 4], name="a")
        m = tf1.placeholder(tf.float32, [3, 4], name="m")
        unused = tf1.placeholder(tf.float32, [2], name="unused")
        parts = tf.unstack(a, axis=1)
        joined = tf.concat([parts[0], tf.stack([parts[2], parts[1]], axis=1)[:, 0, :]], axis=-1)
        sliced = tf.slice(a, [0, 1, 0], [-1, 2, 3]) + a[:, ::-2, 1:][..., :3][:, :1]
        tiled = tf.tile(m[:1], [2, 1]) + tf.pad(m[1:, 1:], [[0, 0], [1, 0]]) + tf.pad(m[:2, :2], [[0, 0], [1, 1]], mode="REFLECT")
        moved = tf.transpose(tf.expand_dims(m, 0), [2, 0, 1])
        chosen = tf.where(m > 0, m * 2.0, tf.broadcast_to(m[:, :1], [3, 4]))
        summed = tf.cumsum(chosen, axis=1, exclusive=True) + tf.reverse(chosen, axis=[0])
        gathered = tf.gather(a, [3, 0, 3], axis=2)
        product = tf.linalg.matmul(a, tf.transpose(m))
        y = tf.add_n(
            [
                tf.reduce_sum(joined * joined),
                tf.reduce_sum(tf.sin(sliced)),
                tf.reduce_sum(tiled * tiled),
                tf.reduce_sum(summed * summed),
                tf.reduce_sum(tf.cos(gathered)),
                tf.reduce_sum(tf.tanh(product)),
                tf.reduce_sum(tf.squeeze(moved, axis=1) ** 2),
            ],
            name="y",
        )
        feeds = {a: rng.uniform(-1, 1, [2, 3, 4]).astype(F32), m: rng.uniform(-1, 1, [3, 4]).astype(F32), unused: np.zeros([2], F32)}
        c.session([c.step(fetches=[y], feeds=feeds)])
        c.gradients([y], [a, m, unused], feeds, unconnected="zero")
        c.gradients([y], [m, unused], feeds)


def stop_gradient():
    with GradientCase("gradients_stop_gradient", "tf.stop_gradient cuts one path: only the other path's gradient reaches x; then tf.gradients' stop_gradients treats an intermediate as a constant that still gets its own gradient") as c:
        x = tf1.placeholder(tf.float32, [3], name="x")
        square = tf.multiply(x, x, name="square")
        y = tf.reduce_sum(square + tf.stop_gradient(tf.exp(x)) * x + tf.sin(square), name="y")
        feeds = {x: np.array([0.5, -1.0, 2.0], F32)}
        c.session([c.step(fetches=[y], feeds=feeds)])
        c.gradients([y], [x], feeds)
        c.gradients([y], [x, square], feeds, stop_gradients=[square])


def cases():
    mlp()
    logistic_regression()
    cnn()
    depthwise()
    embedding(resource=False)
    embedding(resource=True)
    embedding_partitioned()
    conv_transpose()
    math_mix()
    array_mix()
    stop_gradient()
