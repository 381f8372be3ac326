"""The functional control-flow ops TensorFlow's runtime uses internally, `_If` and `_While`
(same inputs and attributes as `If` and `While`), cases named `controlflow_functional_lowered_*`:
a graph built with control flow v2, its `If`/`StatelessIf`/`While`/`StatelessWhile` nodes renamed,
and imported into the case's graph so TensorFlow runs those ops."""
import numpy as np
import tensorflow as tf
from tensorflow.python.framework import op_def_registry

from lib import Case, tf1
from cases_functional import _v2

_INTERNAL = {"If": "_If", "StatelessIf": "_If", "While": "_While", "StatelessWhile": "_While"}


def _import_lowered(build):
    """Builds `build()` in a graph of its own, renames its functional ops to their internal
    forms, imports it into the default graph, and returns the imported tensors."""
    source = tf.Graph()
    with source.as_default(), _v2():
        outputs = build()
    graph_def = source.as_graph_def()
    renamed = 0
    for node in graph_def.node:
        if node.op in _INTERNAL:
            node.op = _INTERNAL[node.op]
            # Keep only the attributes the internal op declares (it has no output_shapes).
            declared = {attr.name for attr in op_def_registry.get(node.op).attr}
            for name in [name for name in node.attr if name not in declared]:
                del node.attr[name]
            renamed += 1
    assert renamed, "TensorFlow wrote no functional op to rename"
    names = [t.name for t in outputs]
    return tf1.import_graph_def(graph_def, name="", return_elements=names)


def cases():
    with Case("controlflow_functional_lowered_while", "a tf.while_loop as TensorFlow's internal _While op") as c:

        def build():
            n = tf1.placeholder(tf.int32, [], name="n")
            x = tf1.placeholder(tf.float32, [3], name="x")
            i, total = tf.while_loop(
                lambda i, t: i < n, lambda i, t: (i + 1, t * 0.5 + x), [tf.constant(0), tf.zeros([3])], name="loop"
            )
            return [i, total]

        i, total = _import_lowered(build)
        n, x = c.graph.get_tensor_by_name("n:0"), c.graph.get_tensor_by_name("x:0")
        assert "_While" in {op.type for op in c.graph.get_operations()}
        xs = np.array([1.0, -2.0, 0.25], np.float32)
        c.session([c.step(fetches=[i, total], feeds={n: k, x: xs}) for k in (0, 1, 6)])

    with Case("controlflow_functional_lowered_if", "a tf.cond as TensorFlow's internal _If op") as c:

        def build():
            p = tf1.placeholder(tf.bool, [], name="p")
            x = tf1.placeholder(tf.float32, [None], name="x")
            return [tf.cond(p, lambda: x * 3.0, lambda: tf.reduce_sum(x) - x, name="y")]

        (y,) = _import_lowered(build)
        p, x = c.graph.get_tensor_by_name("p:0"), c.graph.get_tensor_by_name("x:0")
        assert "_If" in {op.type for op in c.graph.get_operations()}
        xs = np.array([1.5, -2.0, 4.0], np.float32)
        c.session([c.step(fetches=[y], feeds={p: True, x: xs}), c.step(fetches=[y], feeds={p: False, x: xs})])
