"""A first case that checks the generator itself: a placeholder, a broadcast add, a reduction."""
import numpy as np
import tensorflow as tf

from lib import Case, tf1


def cases():
    with Case("smoke_add_sum", "Placeholder + Const with broadcasting, then Sum; a feed of the wrong shape fails") as c:
        x = tf1.placeholder(tf.float32, [None, 3], name="x")
        y = tf.add(x, tf.constant([1.0, 2.0, 3.0]), name="y")
        s = tf.reduce_sum(y, axis=1, name="s")
        c.session([
            c.step(fetches=[y, s], feeds={x: np.arange(6, dtype=np.float32).reshape(2, 3)}),
            c.step(fetches=[s], feeds={x: np.array([[np.nan, np.inf, 1]], dtype=np.float32)}),
        ])
