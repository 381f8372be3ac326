"""Frozen inference graphs, the form in which TF1 models are deployed: a model built in graph mode
(tf_keras, i.e. Keras 2, or tf.compat.v1 code) with seeded random weights (no download), its
variables turned into constants by `tf1.graph_util.convert_variables_to_constants`, imported
into the case's graph and run on fixed inputs.

The graphs are large, so they are written in binary (NAME.pb). Library functions that no frozen
node reaches (Keras' training-mode conds on its own Input, unfrozen copies of loop bodies) are
dropped. Deep graphs carry a tolerance:
float32 sums taken in another order (BLAS or other convolution loops against Eigen) differ in
the last bits, and dozens of layers carry the difference forward.

Recurrent models (tf_keras LSTM and GRU) freeze into functional `While` loops over TensorList
ops with their bodies in the graph's function library: those cases start with `controlflow_`.
"""
import numpy as np
import tensorflow as tf

from lib import Case, tf1

try:
    import tf_keras
except ImportError as error:  # TensorFlow's own tf.keras is Keras 3, which has no graph mode
    raise SystemExit(
        "cases_frozen needs tf_keras (Keras 2) in the TensorFlow venv: "
        f"pip install tf_keras=={tf.__version__}"
    ) from error

DEEP = {"rtol": 1e-4, "atol": 1e-5}
DEEP_REASON = (
    " Tolerance 1e-4 relative, 1e-5 absolute: float32 sums in another order, carried through "
    "many layers."
)


def _randomize_normalization(session, variables, rng):
    """Gives batch-norm statistics and affine parameters values other than 0 and 1, so the
    frozen inference-mode normalization computes something that a wrong formula would miss."""
    for variable in variables:
        shape, name = variable.shape.as_list(), variable.op.name
        if name.endswith("moving_mean"):
            variable.load(np.float32(rng.normal(0, 0.1, shape)), session)
        elif name.endswith("moving_variance"):
            variable.load(np.float32(rng.uniform(0.5, 1.5, shape)), session)
        elif name.endswith("gamma"):
            variable.load(np.float32(rng.uniform(0.8, 1.2, shape)), session)
        elif name.endswith("beta"):
            variable.load(np.float32(rng.normal(0, 0.1, shape)), session)


def _called_functions(nodes):
    """Names of the library functions that `nodes` name in their attrs (While's body and cond, ...)."""
    names = set()
    for node in nodes:
        for value in node.attr.values():
            if value.HasField("func"):
                names.add(value.func.name)
            names.update(f.name for f in value.list.func)
    return names


def _drop_unused_functions(graph_def):
    """Keeps only the library functions the graph's nodes reach, directly or through other
    functions: freezing keeps every function the building left behind (Keras' training-mode
    conds on its own Input, the unfrozen loop bodies), which no frozen node runs."""
    functions = {f.signature.name: f for f in graph_def.library.function}
    reached, pending = set(), _called_functions(graph_def.node)
    while pending:
        name = pending.pop()
        if name in reached or name not in functions:
            continue
        reached.add(name)
        pending |= _called_functions(functions[name].node_def)
    kept = [functions[name] for name in sorted(reached)]
    del graph_def.library.function[:]
    graph_def.library.function.extend(kept)
    kept_gradients = [g for g in graph_def.library.gradient if g.function_name in reached]
    del graph_def.library.gradient[:]
    graph_def.library.gradient.extend(kept_gradients)
    return graph_def


def _freeze(build, seed):
    """Builds `build()` (returning {output name: tensor}) in a fresh graph with graph seed
    `seed`, initializes it, and returns its GraphDef frozen down to those outputs."""
    graph = tf.Graph()
    with graph.as_default():
        # Keras' initializers without a seed of their own draw one from Python's `random`.
        tf_keras.utils.set_random_seed(seed)
        tf1.set_random_seed(seed)
        outputs = build()
        named = [tf.identity(tensor, name=name) for name, tensor in outputs.items()]
        with tf1.Session(graph=graph) as session:
            session.run(tf1.global_variables_initializer())
            _randomize_normalization(session, tf1.global_variables(), np.random.RandomState(seed))
            frozen = tf1.graph_util.convert_variables_to_constants(
                session, graph.as_graph_def(), [t.op.name for t in named]
            )
    return _drop_unused_functions(frozen)


def _frozen_case(name, note, build, seed, feeds, outputs, tolerance=None):
    """Writes `name`: the frozen graph of `build` and TensorFlow's outputs for each feed dict
    (input name → value), one step each."""
    frozen = _freeze(build, seed)
    with Case(name, note, binary=True, **(tolerance or {})) as c:
        tf.import_graph_def(frozen, name="")
        c.session([c.step(fetches=[f"{o}:0" for o in outputs], feeds=feed) for feed in feeds])


def _images(rng, shape):
    """Image-like inputs in [0, 1], in steps of 1/16 so the JSON stays short."""
    return np.float32(np.round(rng.rand(*shape) * 16) / 16)


def _mobilenet_v2():
    def build():
        model = tf_keras.applications.MobileNetV2(
            input_shape=(96, 96, 3), alpha=0.35, weights=None, classes=10, classifier_activation=None
        )
        images = tf1.placeholder(tf.float32, [None, 96, 96, 3], name="images")
        logits = model(images, training=False)
        return {"logits": logits, "probabilities": tf.nn.softmax(logits)}

    note = (
        "tf_keras.applications.MobileNetV2 (alpha 0.35, 96x96x3, 10 classes, random weights and "
        "batch-norm statistics) frozen: Conv2D, DepthwiseConv2dNative, FusedBatchNormV3 in "
        "inference mode, Relu6, residual AddV2, Pad, global average pooling, MatMul, Softmax; "
        "a batch of 2 images." + DEEP_REASON
    )
    rng = np.random.RandomState(21)
    _frozen_case("frozen_mobilenet_v2_035_96", note, build, 21,
                 [{"images:0": _images(rng, (2, 96, 96, 3))}], ["logits", "probabilities"], DEEP)


def _small_resnet():
    layers = tf_keras.layers

    def conv_bn(x, filters, stride, name, relu=True):
        x = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False, name=f"{name}_conv")(x)
        x = layers.BatchNormalization(epsilon=1.001e-5, name=f"{name}_bn")(x)
        return layers.Activation("relu", name=f"{name}_relu")(x) if relu else x

    def block(x, filters, stride, name):
        shortcut = x
        if stride != 1 or x.shape[-1] != filters:
            shortcut = layers.Conv2D(filters, 1, strides=stride, use_bias=False, name=f"{name}_proj")(x)
            shortcut = layers.BatchNormalization(epsilon=1.001e-5, name=f"{name}_proj_bn")(shortcut)
        y = conv_bn(x, filters, stride, f"{name}_1")
        y = conv_bn(y, filters, 1, f"{name}_2", relu=False)
        return layers.Activation("relu", name=f"{name}_out")(layers.Add(name=f"{name}_add")([shortcut, y]))

    def build():
        inputs = tf_keras.Input((32, 32, 3))
        x = conv_bn(inputs, 16, 1, "stem")
        x = block(x, 16, 1, "stage1")
        x = block(x, 32, 2, "stage2")
        x = block(x, 64, 2, "stage3")
        x = layers.GlobalAveragePooling2D(name="pool")(x)
        logits = layers.Dense(10, name="classifier")(x)
        model = tf_keras.Model(inputs, logits, name="small_resnet")
        images = tf1.placeholder(tf.float32, [None, 32, 32, 3], name="images")
        return {"logits": model(images, training=False)}

    note = (
        "A small ResNet built with tf_keras layers (stem and three stages of conv-bn-relu "
        "blocks with residual adds, strided 1x1 projection shortcuts), random weights and "
        "batch-norm statistics, frozen; global average pooling and a dense classifier; a batch "
        "of 2 images 32x32x3." + DEEP_REASON
    )
    rng = np.random.RandomState(22)
    _frozen_case("frozen_small_resnet", note, build, 22, [{"images:0": _images(rng, (2, 32, 32, 3))}], ["logits"], DEEP)


def _transformer_encoder():
    layers = tf_keras.layers

    def build():
        tokens = tf_keras.Input((16, 32))
        attention = layers.MultiHeadAttention(num_heads=4, key_dim=8, name="attention")(tokens, tokens)
        x = layers.LayerNormalization(epsilon=1e-6, name="norm1")(layers.Add()([tokens, attention]))
        hidden = layers.Dense(64, activation="gelu", name="ffn_in")(x)
        projected = layers.Dense(32, name="ffn_out")(hidden)
        x = layers.LayerNormalization(epsilon=1e-6, name="norm2")(layers.Add()([x, projected]))
        model = tf_keras.Model(tokens, x, name="encoder")
        inputs = tf1.placeholder(tf.float32, [None, 16, 32], name="tokens")
        return {"encoded": model(inputs, training=False)}

    note = (
        "A transformer encoder block with tf_keras layers, random weights, frozen: "
        "MultiHeadAttention (4 heads of 8, Einsum projections, scaled dot-product Softmax), "
        "residual adds, LayerNormalization, a GELU (Erf) feed-forward of 64; inputs 2x16x32."
        + DEEP_REASON
    )
    rng = np.random.RandomState(23)
    _frozen_case("frozen_transformer_encoder", note, build, 23,
                 [{"tokens:0": np.float32(np.round(rng.randn(2, 16, 32), 3))}], ["encoded"], DEEP)


def _recurrent(kind):
    layers = tf_keras.layers
    cell = layers.LSTM if kind == "lstm" else layers.GRU

    def build():
        model = tf_keras.Sequential([
            layers.Embedding(50, 8, embeddings_initializer=tf_keras.initializers.RandomUniform(-1, 1, seed=1)),
            cell(16, name=kind),
            layers.Dense(3, name="classifier"),
        ])
        ids = tf1.placeholder(tf.int32, [None, 7], name="ids")
        return {"logits": model(ids, training=False)}

    note = (
        f"Sequence classifier with tf_keras layers, random weights, frozen: Embedding(50, 8), "
        f"{kind.upper()}(16) over 7 steps, Dense(3). Keras writes the recurrence as a functional "
        "While loop whose body and condition are library functions, with TensorList ops "
        "carrying the sequence." + DEEP_REASON
    )
    ids = np.array([[1, 2, 3, 4, 5, 6, 7], [49, 0, 0, 12, 12, 30, 8]], dtype=np.int32)
    _frozen_case(f"controlflow_frozen_{kind}_classifier", note, build, 24, [{"ids:0": ids}], ["logits"], DEEP)


def _text_classifier():
    layers = tf_keras.layers

    def build():
        model = tf_keras.Sequential([
            layers.Embedding(
                100, 16, embeddings_initializer=tf_keras.initializers.RandomNormal(stddev=1.0), name="embedding"
            ),
            layers.GlobalAveragePooling1D(name="pool"),
            layers.Dense(16, activation="relu", name="hidden"),
            layers.Dense(3, activation="softmax", name="classifier"),
        ])
        ids = tf1.placeholder(tf.int32, [None, 12], name="ids")
        return {"probabilities": model(ids, training=False)}

    note = (
        "Bag-of-embeddings text classifier with tf_keras layers, random weights, frozen: "
        "Embedding(100, 16) (a GatherV2 on the frozen table), GlobalAveragePooling1D, "
        "Dense(16, relu), Dense(3, softmax); two steps, batches of 2 and 3 sequences of 12 ids."
    )
    rng = np.random.RandomState(25)
    feeds = [{"ids:0": rng.randint(0, 100, size=(n, 12)).astype(np.int32)} for n in (2, 3)]
    _frozen_case("frozen_embedding_text_classifier", note, build, 25, feeds, ["probabilities"])


def _tf1_mlp():
    def build():
        x = tf1.placeholder(tf.float32, [None, 20], name="features")
        h = x
        for i, units in enumerate((64, 32)):
            with tf1.variable_scope(f"layer{i}", use_resource=False):
                w = tf1.get_variable("weights", [h.shape[-1], units], initializer=tf1.glorot_normal_initializer())
                b = tf1.get_variable("biases", [units], initializer=tf1.random_uniform_initializer(-0.1, 0.1))
                h = tf.nn.relu(tf.matmul(h, w) + b)
        with tf1.variable_scope("output", use_resource=False):
            w = tf1.get_variable("weights", [32, 5], initializer=tf1.glorot_normal_initializer())
            logits = tf.matmul(h, w)
        return {"probabilities": tf.nn.softmax(logits), "class": tf.argmax(logits, axis=1)}

    note = (
        "A TF1 MLP 20-64-32-5 written with tf1.get_variable on ref variables, frozen (the "
        "VariableV2 reads become Const), relu, softmax and argmax; batches of 4 and 1."
    )
    rng = np.random.RandomState(26)
    feeds = [{"features:0": np.float32(np.round(rng.randn(n, 20), 3))} for n in (4, 1)]
    _frozen_case("frozen_tf1_mlp", note, build, 26, feeds, ["probabilities", "class"])


def cases():
    _mobilenet_v2()
    _small_resnet()
    _transformer_encoder()
    _recurrent("lstm")
    _recurrent("gru")
    _text_classifier()
    _tf1_mlp()
