"""Neural-network ops, second part: Conv2D and Conv2DBackpropInput on int32 (the integer type
TensorFlow's CPU registers them for), the depthwise and batch-norm shapes MobileNet runs (many
channels, so the vectorised paths and their remainders are both taken), and the pooling ops in
NCHW, which TensorFlow's CPU refuses."""
import numpy as np
import tensorflow as tf

from lib import Case, tf1

raw = tf.raw_ops
rng = np.random.default_rng(29)
LOOSE = dict(rtol=1e-4, atol=1e-5)


def f32(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def i32(*shape, low=-20, high=20):
    return rng.integers(low, high, shape).astype(np.int32)


def _int_conv_cases():
    configs = [
        # name, input, filter, strides, padding, dilations, explicit paddings
        ("same", (2, 6, 7, 3), (3, 3, 3, 4), 1, "SAME", 1, None),
        ("valid_stride2", (1, 9, 8, 2), (3, 2, 2, 3), 2, "VALID", 1, None),
        ("pointwise", (2, 4, 5, 6), (1, 1, 6, 5), 1, "VALID", 1, None),
        ("dilated", (1, 9, 9, 2), (3, 3, 2, 3), 1, "SAME", 2, None),
        ("explicit", (1, 5, 6, 2), (3, 3, 2, 3), 2, "EXPLICIT", 1, [0, 0, 1, 2, 0, 1, 0, 0]),
        ("grouped", (2, 5, 5, 4), (3, 3, 2, 6), 1, "SAME", 1, None),
    ]
    for name, xs, ws, stride, padding, dilation, explicit in configs:
        with Case(f"nn_conv2d_int32_{name}", f"Conv2D on int32, {padding} stride {stride} dilation {dilation}") as c:
            x = tf1.placeholder(tf.int32, xs, name="x")
            w = tf1.placeholder(tf.int32, ws, name="w")
            kw = dict(explicit_paddings=explicit) if explicit else {}
            y = raw.Conv2D(input=x, filter=w, strides=[1, stride, stride, 1], padding=padding,
                           dilations=[1, dilation, dilation, 1], name="y", **kw)
            c.session([c.step(fetches=[y], feeds={x: i32(*xs), w: i32(*ws, low=-5, high=6)})])

    with Case("nn_conv2d_int32_wraps", "Conv2D on int32 whose sums overflow: they wrap in two's complement") as c:
        x = tf1.placeholder(tf.int32, (1, 3, 3, 2), name="x")
        w = tf1.placeholder(tf.int32, (2, 2, 2, 2), name="w")
        y = raw.Conv2D(input=x, filter=w, strides=[1, 1, 1, 1], padding="SAME", name="y")
        big = np.array([2**30, 2**31 - 1, -(2**31), 12345, 7, -3, 2**29, 99, 1 << 20] * 2, np.int64)
        c.session([c.step(fetches=[y], feeds={
            x: big.astype(np.int32).reshape(1, 3, 3, 2),
            w: np.array([3, -7, 2**20, 5, 1, 1 << 12, -1, 9] * 2, np.int32).reshape(2, 2, 2, 2),
        })])

    with Case("nn_conv2d_int32_empty_batch", "Conv2D on int32 with an empty batch") as c:
        x = tf1.placeholder(tf.int32, (0, 4, 4, 2), name="x")
        y = raw.Conv2D(input=x, filter=tf.constant(i32(3, 3, 2, 3)), strides=[1, 1, 1, 1], padding="SAME", name="y")
        c.session([c.step(fetches=[y], feeds={x: np.zeros((0, 4, 4, 2), np.int32)})])

    for name, xs, ws, stride, padding in [
        ("same", (2, 6, 7, 3), (3, 3, 3, 4), 1, "SAME"),
        ("same_stride2", (1, 7, 8, 3), (3, 3, 3, 5), 2, "SAME"),
        ("valid_stride2", (2, 9, 8, 2), (3, 2, 2, 3), 2, "VALID"),
    ]:
        with Case(f"nn_conv2d_backprop_input_int32_{name}", f"Conv2DBackpropInput on int32, {padding} stride {stride}") as c:
            x = tf1.placeholder(tf.int32, xs, name="x")
            w = tf1.placeholder(tf.int32, ws, name="w")
            y = raw.Conv2D(input=x, filter=w, strides=[1, stride, stride, 1], padding=padding, name="y")
            dy = tf1.placeholder(tf.int32, y.shape, name="dy")
            dx = raw.Conv2DBackpropInput(input_sizes=tf.shape(x), filter=w, out_backprop=dy,
                                         strides=[1, stride, stride, 1], padding=padding, name="dx")
            c.session([c.step(fetches=[y, dx], feeds={x: i32(*xs), w: i32(*ws, low=-5, high=6), dy: i32(*y.shape)})])

    with Case("nn_conv2d_int32_depth_mismatch", "Conv2D on int32 whose input depth is not a multiple of the filter's: invalid") as c:
        x = tf1.placeholder(tf.int32, None, name="x")
        w = tf1.placeholder(tf.int32, None, name="w")
        y = raw.Conv2D(input=x, filter=w, strides=[1, 1, 1, 1], padding="SAME", name="y")
        c.session([c.step(fetches=[y], feeds={x: i32(1, 4, 4, 3), w: i32(3, 3, 2, 2)})])


def _mobilenet_shape_cases():
    for name, xs, ws, stride, padding in [
        ("many_channels_same", (2, 9, 10, 20), (3, 3, 20, 1), 1, "SAME"),
        ("many_channels_stride2", (2, 11, 9, 16), (3, 3, 16, 1), 2, "SAME"),
        ("many_channels_valid_5x5", (1, 8, 9, 27), (5, 5, 27, 1), 1, "VALID"),
        ("many_channels_stride2_valid", (1, 9, 9, 24), (3, 3, 24, 1), 2, "VALID"),
    ]:
        with Case(f"nn_depthwise_{name}", f"DepthwiseConv2dNative {padding} stride {stride} over {xs[3]} channels", **LOOSE) as c:
            x = tf1.placeholder(tf.float32, xs, name="x")
            w = tf1.placeholder(tf.float32, ws, name="w")
            y = raw.DepthwiseConv2dNative(input=x, filter=w, strides=[1, stride, stride, 1], padding=padding, name="y")
            c.session([c.step(fetches=[y], feeds={x: f32(*xs), w: f32(*ws)})])

    with Case("nn_depthwise_empty_batch", "DepthwiseConv2dNative with an empty batch") as c:
        x = tf1.placeholder(tf.float32, (0, 5, 5, 16), name="x")
        y = raw.DepthwiseConv2dNative(input=x, filter=tf.constant(f32(3, 3, 16, 1)), strides=[1, 1, 1, 1],
                                      padding="SAME", name="y")
        c.session([c.step(fetches=[y], feeds={x: np.zeros((0, 5, 5, 16), np.float32)})])

    for fmt, xs in [("nhwc", (2, 5, 4, 19)), ("nchw", (2, 19, 5, 4))]:
        with Case(f"nn_fused_batch_norm_v3_inference_{fmt}_19_channels", f"FusedBatchNormV3 inference in {fmt.upper()} over 19 channels", **LOOSE) as c:
            x = tf1.placeholder(tf.float32, xs, name="x")
            outs = raw.FusedBatchNormV3(x=x, scale=tf.constant(f32(19)), offset=tf.constant(f32(19)),
                                        mean=tf.constant(f32(19)), variance=tf.constant(np.abs(f32(19)) + 0.1),
                                        epsilon=0.001, data_format=fmt.upper(), is_training=False, name="bn")
            c.session([c.step(fetches=[outs[0]], feeds={x: f32(*xs) * 2})])


def _nchw_pool_cases():
    ks = dict(ksize=[1, 1, 2, 2], strides=[1, 1, 2, 2], padding="VALID", data_format="NCHW")
    with Case("nn_avg_pool_nchw_refused", "AvgPool in NCHW on the CPU: invalid, as in TensorFlow") as c:
        x = tf1.placeholder(tf.float32, (1, 2, 4, 4), name="x")
        y = raw.AvgPool(value=x, name="y", **ks)
        c.session([c.step(fetches=[y], feeds={x: f32(1, 2, 4, 4)})])
    with Case("nn_max_pool_grad_nchw_refused", "MaxPoolGrad in NCHW on the CPU: invalid, as in TensorFlow") as c:
        x = tf1.placeholder(tf.float32, (1, 2, 4, 4), name="x")
        dy = tf1.placeholder(tf.float32, (1, 2, 2, 2), name="dy")
        y = raw.MaxPoolGrad(orig_input=x, orig_output=dy, grad=dy, name="y", **ks)
        c.session([c.step(fetches=[y], feeds={x: f32(1, 2, 4, 4), dy: f32(1, 2, 2, 2)})])
    with Case("nn_avg_pool_grad_nchw_refused", "AvgPoolGrad in NCHW on the CPU: invalid, as in TensorFlow") as c:
        dy = tf1.placeholder(tf.float32, (1, 2, 2, 2), name="dy")
        y = raw.AvgPoolGrad(orig_input_shape=[1, 2, 4, 4], grad=dy, name="y", **ks)
        c.session([c.step(fetches=[y], feeds={dy: f32(1, 2, 2, 2)})])
    with Case("nn_max_pool_int32_nchw_refused", "MaxPool on int32 in NCHW on the CPU: invalid, as in TensorFlow") as c:
        x = tf1.placeholder(tf.int32, (1, 2, 4, 4), name="x")
        y = raw.MaxPool(input=x, name="y", **ks)
        c.session([c.step(fetches=[y], feeds={x: i32(1, 2, 4, 4)})])


def cases():
    _int_conv_cases()
    _mobilenet_shape_cases()
    _nchw_pool_cases()
