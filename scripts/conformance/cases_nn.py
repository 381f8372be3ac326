"""Neural-network ops: convolutions, pooling, batch normalisation, bias, losses and the
gradients TensorFlow's autodiff emits for them."""
import numpy as np
import tensorflow as tf

from lib import Case, tf1

raw = tf.raw_ops
rng = np.random.default_rng(11)
LOOSE = dict(rtol=1e-4, atol=1e-5)


def f32(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def _conv_cases():
    configs = [
        # name, input, filter, strides, padding, dilations, explicit
        ("valid", (2, 6, 7, 3), (3, 3, 3, 4), 1, "VALID", 1, None),
        ("same", (2, 6, 7, 3), (3, 3, 3, 4), 1, "SAME", 1, None),
        ("same_stride2", (2, 7, 8, 3), (3, 3, 3, 5), 2, "SAME", 1, None),
        ("valid_stride2", (1, 9, 8, 2), (3, 2, 2, 3), 2, "VALID", 1, None),
        ("even_kernel_same", (1, 6, 6, 2), (4, 4, 2, 3), 2, "SAME", 1, None),
        ("pointwise", (2, 5, 5, 8), (1, 1, 8, 6), 1, "VALID", 1, None),
        ("dilated", (1, 9, 9, 2), (3, 3, 2, 3), 1, "SAME", 2, None),
        ("explicit", (1, 5, 6, 2), (3, 3, 2, 3), 2, "EXPLICIT", 1, [0, 0, 1, 2, 0, 1, 0, 0]),
        ("grouped", (2, 5, 5, 4), (3, 3, 2, 6), 1, "SAME", 1, None),
    ]
    for name, xs, ws, stride, padding, dilation, explicit in configs:
        with Case(f"nn_conv2d_{name}", f"Conv2D {padding} stride {stride} dilation {dilation}, input {xs}, filter {ws}", **LOOSE) as c:
            x = tf1.placeholder(tf.float32, xs, name="x")
            w = tf1.placeholder(tf.float32, ws, name="w")
            kw = dict(explicit_paddings=explicit) if explicit else {}
            y = raw.Conv2D(input=x, filter=w, strides=[1, stride, stride, 1], padding=padding,
                           dilations=[1, dilation, dilation, 1], name="y", **kw)
            c.session([c.step(fetches=[y], feeds={x: f32(*xs), w: f32(*ws)})])

    for name, xs, ws, stride, padding in [
        ("same", (2, 6, 7, 3), (3, 3, 3, 4), 1, "SAME"),
        ("valid_stride2", (2, 9, 8, 2), (3, 2, 2, 3), 2, "VALID"),
        ("same_stride2", (1, 7, 8, 3), (3, 3, 3, 5), 2, "SAME"),
        ("pointwise", (2, 4, 4, 5), (1, 1, 5, 3), 1, "VALID"),
    ]:
        with Case(f"nn_conv2d_gradients_{name}", f"Conv2DBackpropInput and Conv2DBackpropFilter, {padding} stride {stride}", **LOOSE) as c:
            x = tf1.placeholder(tf.float32, xs, name="x")
            w = tf1.placeholder(tf.float32, ws, name="w")
            y = tf.nn.conv2d(x, w, strides=[1, stride, stride, 1], padding=padding, name="y")
            dy = tf1.placeholder(tf.float32, y.shape, name="dy")
            dx = raw.Conv2DBackpropInput(input_sizes=tf.shape(x), filter=w, out_backprop=dy,
                                         strides=[1, stride, stride, 1], padding=padding, name="dx")
            dw = raw.Conv2DBackpropFilter(input=x, filter_sizes=tf.shape(w), out_backprop=dy,
                                          strides=[1, stride, stride, 1], padding=padding, name="dw")
            c.session([c.step(fetches=[y, dx, dw], feeds={x: f32(*xs), w: f32(*ws), dy: f32(*y.shape)})])

    with Case("nn_conv2d_tf_gradients", "tf.gradients of a SAME stride-2 Conv2D: the graph TensorFlow's autodiff builds", **LOOSE) as c:
        x = tf1.placeholder(tf.float32, (2, 7, 7, 3), name="x")
        w = tf.constant(f32(3, 3, 3, 4), name="w")
        y = tf.nn.conv2d(x, w, strides=2, padding="SAME", name="y")
        loss = tf.reduce_sum(y * y, name="loss")
        gx, gw = tf.gradients(loss, [x, w])
        c.session([c.step(fetches=[loss, gx, gw], feeds={x: f32(2, 7, 7, 3)})])

    with Case("nn_conv2d_float64_and_half", "Conv2D on float64 and float16", rtol=2e-3, atol=2e-3) as c:
        xd = tf1.placeholder(tf.float64, (1, 5, 5, 2), name="xd")
        wd = tf1.placeholder(tf.float64, (3, 3, 2, 2), name="wd")
        xh = tf1.placeholder(tf.float16, (1, 5, 5, 2), name="xh")
        wh = tf1.placeholder(tf.float16, (3, 3, 2, 2), name="wh")
        yd = raw.Conv2D(input=xd, filter=wd, strides=[1, 1, 1, 1], padding="SAME", name="yd")
        yh = raw.Conv2D(input=xh, filter=wh, strides=[1, 2, 2, 1], padding="VALID", name="yh")
        c.session([c.step(fetches=[yd, yh], feeds={
            xd: rng.standard_normal((1, 5, 5, 2)), wd: rng.standard_normal((3, 3, 2, 2)),
            xh: f32(1, 5, 5, 2).astype(np.float16), wh: (f32(3, 3, 2, 2) / 4).astype(np.float16),
        })])

    with Case("nn_conv2d_depth_mismatch", "Conv2D whose input depth is not a multiple of the filter's: invalid") as c:
        x = tf1.placeholder(tf.float32, None, name="x")
        w = tf1.placeholder(tf.float32, None, name="w")
        y = raw.Conv2D(input=x, filter=w, strides=[1, 1, 1, 1], padding="SAME", name="y")
        c.session([c.step(fetches=[y], feeds={x: f32(1, 4, 4, 3), w: f32(3, 3, 2, 2)})])

    with Case("nn_conv2d_filter_too_big", "Conv2D VALID with a filter larger than the input: invalid") as c:
        x = tf1.placeholder(tf.float32, None, name="x")
        w = tf1.placeholder(tf.float32, None, name="w")
        y = raw.Conv2D(input=x, filter=w, strides=[1, 1, 1, 1], padding="VALID", name="y")
        c.session([c.step(fetches=[y], feeds={x: f32(1, 2, 2, 1), w: f32(5, 5, 1, 1)})])

    with Case("nn_conv2d_not_4d", "Conv2D on a 3-D input: invalid") as c:
        x = tf1.placeholder(tf.float32, None, name="x")
        w = tf1.placeholder(tf.float32, None, name="w")
        y = raw.Conv2D(input=x, filter=w, strides=[1, 1, 1, 1], padding="SAME", name="y")
        c.session([c.step(fetches=[y], feeds={x: f32(4, 4, 3), w: f32(3, 3, 3, 2)})])

    with Case("nn_conv2d_backprop_input_bad_out_backprop", "Conv2DBackpropInput with an out_backprop of the wrong size") as c:
        dy = tf1.placeholder(tf.float32, None, name="dy")
        dx = raw.Conv2DBackpropInput(input_sizes=[1, 5, 5, 2], filter=tf.constant(f32(3, 3, 2, 3)), out_backprop=dy,
                                     strides=[1, 1, 1, 1], padding="VALID", name="dx")
        c.session([c.step(fetches=[dx], feeds={dy: f32(1, 4, 4, 3)})])

    with Case("nn_conv2d_nchw_refused", "Conv2D in NCHW on the CPU: unimplemented, as in TensorFlow") as c:
        x = tf1.placeholder(tf.float32, (1, 2, 5, 5), name="x")
        y = raw.Conv2D(input=x, filter=tf.constant(f32(3, 3, 2, 2)), strides=[1, 1, 1, 1], padding="SAME",
                       data_format="NCHW", name="y")
        c.session([c.step(fetches=[y], feeds={x: f32(1, 2, 5, 5)})])


def _depthwise_cases():
    for name, xs, ws, stride, padding in [
        ("same", (2, 6, 6, 3), (3, 3, 3, 1), 1, "SAME"),
        ("multiplier_stride2", (1, 7, 6, 2), (3, 3, 2, 3), 2, "SAME"),
        ("valid", (2, 6, 5, 4), (2, 3, 4, 2), 1, "VALID"),
    ]:
        with Case(f"nn_depthwise_{name}", f"DepthwiseConv2dNative {padding} stride {stride} and its gradients", **LOOSE) as c:
            x = tf1.placeholder(tf.float32, xs, name="x")
            w = tf1.placeholder(tf.float32, ws, name="w")
            strides = [1, stride, stride, 1]
            y = raw.DepthwiseConv2dNative(input=x, filter=w, strides=strides, padding=padding, name="y")
            dy = tf1.placeholder(tf.float32, y.shape, name="dy")
            dx = raw.DepthwiseConv2dNativeBackpropInput(input_sizes=tf.shape(x), filter=w, out_backprop=dy,
                                                         strides=strides, padding=padding, name="dx")
            dw = raw.DepthwiseConv2dNativeBackpropFilter(input=x, filter_sizes=tf.shape(w), out_backprop=dy,
                                                          strides=strides, padding=padding, name="dw")
            c.session([c.step(fetches=[y, dx, dw], feeds={x: f32(*xs), w: f32(*ws), dy: f32(*y.shape)})])
    with Case("nn_depthwise_depth_mismatch", "DepthwiseConv2dNative with input and filter depths that differ") as c:
        x = tf1.placeholder(tf.float32, None, name="x")
        w = tf1.placeholder(tf.float32, None, name="w")
        y = raw.DepthwiseConv2dNative(input=x, filter=w, strides=[1, 1, 1, 1], padding="SAME", name="y")
        c.session([c.step(fetches=[y], feeds={x: f32(1, 4, 4, 3), w: f32(3, 3, 2, 1)})])


def _pool_cases():
    for name, xs, k, stride, padding in [
        ("valid_2x2", (2, 6, 6, 3), 2, 2, "VALID"),
        ("same_3x3_s2", (2, 7, 7, 2), 3, 2, "SAME"),
        ("same_3x3_s1", (1, 5, 6, 4), 3, 1, "SAME"),
        ("valid_3x2_s1", (1, 6, 5, 2), (3, 2), 1, "VALID"),
    ]:
        kr, kc = (k, k) if isinstance(k, int) else k
        ksize, strides = [1, kr, kc, 1], [1, stride, stride, 1]
        with Case(f"nn_pool_{name}", f"MaxPool, AvgPool and their gradients, {padding} {kr}x{kc} stride {stride}", **LOOSE) as c:
            x = tf1.placeholder(tf.float32, xs, name="x")
            mp = raw.MaxPool(input=x, ksize=ksize, strides=strides, padding=padding, name="max")
            ap = raw.AvgPool(value=x, ksize=ksize, strides=strides, padding=padding, name="avg")
            dy = tf1.placeholder(tf.float32, mp.shape, name="dy")
            mg = raw.MaxPoolGrad(orig_input=x, orig_output=mp, grad=dy, ksize=ksize, strides=strides, padding=padding, name="max_grad")
            ag = raw.AvgPoolGrad(orig_input_shape=tf.shape(x), grad=dy, ksize=ksize, strides=strides, padding=padding, name="avg_grad")
            c.session([c.step(fetches=[mp, ap, mg, ag], feeds={x: f32(*xs), dy: f32(*mp.shape)})])

    with Case("nn_max_pool_ties", "MaxPoolGrad sends a window's gradient to its first maximal element") as c:
        x = tf1.placeholder(tf.float32, (1, 4, 4, 1), name="x")
        mp = raw.MaxPool(input=x, ksize=[1, 3, 3, 1], strides=[1, 1, 1, 1], padding="SAME", name="max")
        mg = raw.MaxPoolGrad(orig_input=x, orig_output=mp, grad=tf.ones_like(mp) * 2, ksize=[1, 3, 3, 1],
                             strides=[1, 1, 1, 1], padding="SAME", name="max_grad")
        c.session([c.step(fetches=[mp, mg], feeds={x: np.array([1, 3, 3, 0, 3, 1, 0, 3, 2, 2, 3, 3, 0, 1, 1, 1], np.float32).reshape(1, 4, 4, 1)})])

    with Case("nn_pool_float64_half_int", "MaxPool on float64, float16 and int32; AvgPool on float64") as c:
        d = tf1.placeholder(tf.float64, (1, 4, 4, 2), name="d")
        h = tf1.placeholder(tf.float16, (1, 4, 4, 2), name="h")
        i = tf1.placeholder(tf.int32, (1, 4, 4, 2), name="i")
        ks = dict(ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding="SAME")
        outs = [raw.MaxPool(input=d, name="md", **ks), raw.MaxPool(input=h, name="mh", **ks),
                raw.MaxPool(input=i, name="mi", **ks), raw.AvgPool(value=d, name="ad", **ks)]
        c.session([c.step(fetches=outs, feeds={
            d: rng.standard_normal((1, 4, 4, 2)), h: f32(1, 4, 4, 2).astype(np.float16),
            i: rng.integers(-50, 50, (1, 4, 4, 2)).astype(np.int32),
        })])

    with Case("nn_max_pool_window_too_big", "MaxPool VALID with a window larger than the input: invalid") as c:
        x = tf1.placeholder(tf.float32, None, name="x")
        y = raw.MaxPool(input=x, ksize=[1, 3, 3, 1], strides=[1, 1, 1, 1], padding="VALID", name="y")
        c.session([c.step(fetches=[y], feeds={x: f32(1, 2, 2, 1)})])

    with Case("nn_max_pool_nchw_refused", "MaxPool in NCHW on the CPU: invalid, as in TensorFlow") as c:
        x = tf1.placeholder(tf.float32, (1, 2, 4, 4), name="x")
        y = raw.MaxPool(input=x, ksize=[1, 1, 2, 2], strides=[1, 1, 2, 2], padding="VALID", data_format="NCHW", name="y")
        c.session([c.step(fetches=[y], feeds={x: f32(1, 2, 4, 4)})])


def _batch_norm_cases():
    for fmt, xs in [("NHWC", (2, 4, 3, 5)), ("NCHW", (2, 5, 4, 3))]:
        channels = xs[3] if fmt == "NHWC" else xs[1]
        with Case(f"nn_fused_batch_norm_v3_training_{fmt.lower()}", f"FusedBatchNormV3 training in {fmt}: all six outputs, then the gradient", **LOOSE) as c:
            x = tf1.placeholder(tf.float32, xs, name="x")
            scale = tf.constant(f32(channels), name="scale")
            offset = tf.constant(f32(channels), name="offset")
            empty = tf.constant([], tf.float32)
            outs = raw.FusedBatchNormV3(x=x, scale=scale, offset=offset, mean=empty, variance=empty, epsilon=0.001,
                                        data_format=fmt, is_training=True, name="bn")
            dy = tf1.placeholder(tf.float32, xs, name="dy")
            grads = raw.FusedBatchNormGradV3(y_backprop=dy, x=x, scale=scale, reserve_space_1=outs[3],
                                             reserve_space_2=outs[4], reserve_space_3=outs[5], epsilon=0.001,
                                             data_format=fmt, is_training=True, name="bn_grad")
            c.session([c.step(fetches=list(outs) + list(grads[:3]), feeds={x: f32(*xs) * 3 + 1, dy: f32(*xs)})])

    with Case("nn_fused_batch_norm_v3_inference", "FusedBatchNormV3 with is_training=False and its gradient", **LOOSE) as c:
        x = tf1.placeholder(tf.float32, (2, 3, 3, 4), name="x")
        scale, offset = tf.constant(f32(4)), tf.constant(f32(4))
        mean, var = tf.constant(f32(4)), tf.constant(np.abs(f32(4)) + 0.5)
        outs = raw.FusedBatchNormV3(x=x, scale=scale, offset=offset, mean=mean, variance=var, epsilon=0.01,
                                    is_training=False, name="bn")
        dy = tf1.placeholder(tf.float32, (2, 3, 3, 4), name="dy")
        # Outside training TensorFlow leaves the reserve spaces unset, and its autodiff passes the
        # population statistics to the gradient instead.
        grads = raw.FusedBatchNormGradV3(y_backprop=dy, x=x, scale=scale, reserve_space_1=mean,
                                         reserve_space_2=var, reserve_space_3=outs[5], epsilon=0.01,
                                         is_training=False, name="bn_grad")
        c.session([c.step(fetches=list(outs[:3]) + list(grads[:3]), feeds={x: f32(2, 3, 3, 4), dy: f32(2, 3, 3, 4)})])

    with Case("nn_fused_batch_norm_v3_moving_average", "FusedBatchNormV3 training with exponential_avg_factor=0.1", **LOOSE) as c:
        x = tf1.placeholder(tf.float32, (4, 2, 2, 3), name="x")
        outs = raw.FusedBatchNormV3(x=x, scale=tf.ones([3]), offset=tf.zeros([3]), mean=tf.constant([1.0, 2.0, 3.0]),
                                    variance=tf.constant([1.0, 0.5, 2.0]), epsilon=0.001, exponential_avg_factor=0.1,
                                    is_training=True, name="bn")
        c.session([c.step(fetches=list(outs[:5]), feeds={x: f32(4, 2, 2, 3)})])

    with Case("nn_fused_batch_norm_v1_v2", "FusedBatchNorm and FusedBatchNormV2 (half input, float statistics)", rtol=2e-3, atol=2e-3) as c:
        x = tf1.placeholder(tf.float32, (2, 2, 2, 3), name="x")
        h = tf1.placeholder(tf.float16, (2, 2, 2, 3), name="h")
        one = raw.FusedBatchNorm(x=x, scale=tf.ones([3]), offset=tf.zeros([3]), mean=tf.zeros([0]), variance=tf.zeros([0]), name="v1")
        two = raw.FusedBatchNormV2(x=h, scale=tf.ones([3]), offset=tf.zeros([3]), mean=tf.zeros([0]), variance=tf.zeros([0]), name="v2")
        g = raw.FusedBatchNormGrad(y_backprop=x, x=x, scale=tf.ones([3]), reserve_space_1=one[3], reserve_space_2=one[4], name="g1")
        c.session([c.step(fetches=list(one) + list(two) + list(g[:3]), feeds={x: f32(2, 2, 2, 3), h: f32(2, 2, 2, 3).astype(np.float16)})])

    with Case("nn_fused_batch_norm_bad_scale", "FusedBatchNormV3 whose scale has the wrong length: invalid") as c:
        x = tf1.placeholder(tf.float32, None, name="x")
        s = tf1.placeholder(tf.float32, None, name="s")
        outs = raw.FusedBatchNormV3(x=x, scale=s, offset=tf.zeros([3]), mean=tf.zeros([0]), variance=tf.zeros([0]), name="bn")
        c.session([c.step(fetches=[outs[0]], feeds={x: f32(1, 2, 2, 3), s: f32(4)})])

    with Case("nn_fused_batch_norm_inference_empty_mean", "FusedBatchNormV3 inference without a mean: invalid") as c:
        x = tf1.placeholder(tf.float32, (1, 2, 2, 3), name="x")
        m = tf1.placeholder(tf.float32, None, name="m")
        outs = raw.FusedBatchNormV3(x=x, scale=tf.ones([3]), offset=tf.zeros([3]), mean=m, variance=tf.ones([3]),
                                    is_training=False, name="bn")
        c.session([c.step(fetches=[outs[0]], feeds={x: f32(1, 2, 2, 3), m: np.zeros(0, np.float32)})])


def _bias_cases():
    with Case("nn_bias_add_nchw_and_grad", "BiasAdd and BiasAddGrad in NHWC and NCHW", **LOOSE) as c:
        x4 = tf1.placeholder(tf.float32, (2, 3, 4, 5), name="x4")
        b3 = tf1.placeholder(tf.float32, (3,), name="b3")
        b5 = tf1.placeholder(tf.float32, (5,), name="b5")
        x2 = tf1.placeholder(tf.float32, (4, 3), name="x2")
        outs = [
            raw.BiasAdd(value=x4, bias=b3, data_format="NCHW", name="nchw"),
            raw.BiasAdd(value=x4, bias=b5, data_format="NHWC", name="nhwc"),
            raw.BiasAddGrad(out_backprop=x4, data_format="NCHW", name="grad_nchw"),
            raw.BiasAddGrad(out_backprop=x4, data_format="NHWC", name="grad_nhwc"),
            raw.BiasAddGrad(out_backprop=x2, name="grad_2d"),
        ]
        c.session([c.step(fetches=outs, feeds={x4: f32(2, 3, 4, 5), b3: f32(3), b5: f32(5), x2: f32(4, 3)})])

    with Case("nn_bias_add_grad_types", "BiasAddGrad on float64, float16 and int32") as c:
        d = tf1.placeholder(tf.float64, (3, 2), name="d")
        h = tf1.placeholder(tf.float16, (3, 2), name="h")
        i = tf1.placeholder(tf.int32, (2, 3, 2), name="i")
        outs = [raw.BiasAddGrad(out_backprop=d, name="gd"), raw.BiasAddGrad(out_backprop=h, name="gh"),
                raw.BiasAddGrad(out_backprop=i, data_format="NCHW", name="gi")]
        c.session([c.step(fetches=outs, feeds={d: rng.standard_normal((3, 2)), h: np.array([[1, 2], [3, 4], [5, 6]], np.float16),
                                               i: np.arange(12, dtype=np.int32).reshape(2, 3, 2)})])

    with Case("nn_bias_add_nchw_mismatch", "BiasAdd NCHW whose bias does not match dimension 1: invalid") as c:
        x = tf1.placeholder(tf.float32, None, name="x")
        b = tf1.placeholder(tf.float32, None, name="b")
        y = raw.BiasAdd(value=x, bias=b, data_format="NCHW", name="y")
        c.session([c.step(fetches=[y], feeds={x: f32(2, 3, 4, 5), b: f32(5)})])

    with Case("nn_bias_add_grad_1d", "BiasAddGrad of a vector: invalid") as c:
        x = tf1.placeholder(tf.float32, None, name="x")
        y = raw.BiasAddGrad(out_backprop=x, name="y")
        c.session([c.step(fetches=[y], feeds={x: f32(5)})])


def _loss_cases():
    with Case("nn_softmax_cross_entropy", "SoftmaxCrossEntropyWithLogits: loss and backprop, with extreme logits") as c:
        logits = tf1.placeholder(tf.float32, (3, 4), name="logits")
        labels = tf1.placeholder(tf.float32, (3, 4), name="labels")
        loss, backprop = raw.SoftmaxCrossEntropyWithLogits(features=logits, labels=labels, name="xent")
        c.session([c.step(fetches=[loss, backprop], feeds={
            logits: np.array([[1, 2, 3, 4], [100, -100, 0, 50], [0, 0, 0, 0]], np.float32),
            labels: np.array([[0, 0, 0, 1], [0.5, 0.5, 0, 0], [0.25, 0.25, 0.25, 0.25]], np.float32),
        })])

    with Case("nn_softmax_cross_entropy_broadcast", "SoftmaxCrossEntropyWithLogits with labels [1, C] broadcast over the batch; float64") as c:
        logits = tf1.placeholder(tf.float64, (3, 4), name="logits")
        labels = tf1.placeholder(tf.float64, (1, 4), name="labels")
        loss, backprop = raw.SoftmaxCrossEntropyWithLogits(features=logits, labels=labels, name="xent")
        c.session([c.step(fetches=[loss, backprop], feeds={logits: rng.standard_normal((3, 4)), labels: np.array([[0.1, 0.2, 0.3, 0.4]])})])

    with Case("nn_softmax_cross_entropy_bad_shapes", "SoftmaxCrossEntropyWithLogits on shapes that do not broadcast: invalid") as c:
        logits = tf1.placeholder(tf.float32, None, name="logits")
        labels = tf1.placeholder(tf.float32, None, name="labels")
        loss, _ = raw.SoftmaxCrossEntropyWithLogits(features=logits, labels=labels, name="xent")
        c.session([c.step(fetches=[loss], feeds={logits: f32(3, 4), labels: f32(2, 4)})])

    with Case("nn_sparse_softmax_cross_entropy", "SparseSoftmaxCrossEntropyWithLogits with int32 and int64 labels") as c:
        logits = tf1.placeholder(tf.float32, (4, 5), name="logits")
        l32 = tf1.placeholder(tf.int32, (4,), name="l32")
        l64 = tf1.placeholder(tf.int64, (4,), name="l64")
        a = raw.SparseSoftmaxCrossEntropyWithLogits(features=logits, labels=l32, name="a")
        b = raw.SparseSoftmaxCrossEntropyWithLogits(features=logits, labels=l64, name="b")
        c.session([c.step(fetches=list(a) + list(b), feeds={
            logits: f32(4, 5) * 5, l32: np.array([0, 4, 2, 2], np.int32), l64: np.array([1, 1, 3, 0], np.int64),
        })])

    with Case("nn_sparse_softmax_cross_entropy_out_of_range", "SparseSoftmaxCrossEntropyWithLogits with a label outside [0, C): invalid") as c:
        logits = tf1.placeholder(tf.float32, (2, 3), name="logits")
        labels = tf1.placeholder(tf.int32, (2,), name="labels")
        loss, _ = raw.SparseSoftmaxCrossEntropyWithLogits(features=logits, labels=labels, name="xent")
        c.session([
            c.step(fetches=[loss], feeds={logits: f32(2, 3), labels: np.array([0, 3], np.int32)}),
            c.step(fetches=[loss], feeds={logits: f32(2, 3), labels: np.array([-1, 0], np.int32)}),
        ])

    with Case("nn_tf_losses", "tf.nn losses as TF1 programs build them, with tf.gradients") as c:
        logits = tf1.placeholder(tf.float32, (3, 4), name="logits")
        labels = tf1.placeholder(tf.int64, (3,), name="labels")
        one_hot = tf1.placeholder(tf.float32, (3, 4), name="one_hot")
        sparse = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))
        dense = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=one_hot, logits=logits))
        l2 = tf.nn.l2_loss(logits, name="l2")
        grads = tf.gradients(sparse + dense + l2, [logits])
        c.session([c.step(fetches=[sparse, dense, l2] + grads, feeds={logits: f32(3, 4), labels: np.array([3, 0, 1]), one_hot: np.eye(4, dtype=np.float32)[[3, 0, 1]]})])

    with Case("nn_l2_loss", "L2Loss on float32, float64 and an empty tensor") as c:
        x = tf1.placeholder(tf.float32, None, name="x")
        d = tf1.placeholder(tf.float64, None, name="d")
        a, b = raw.L2Loss(t=x, name="a"), raw.L2Loss(t=d, name="b")
        c.session([
            c.step(fetches=[a, b], feeds={x: f32(3, 4), d: rng.standard_normal(7)}),
            c.step(fetches=[a], feeds={x: np.zeros((0, 3), np.float32)}),
        ])

    with Case("nn_log_softmax_softmax", "Softmax and LogSoftmax on 3-D logits") as c:
        x = tf1.placeholder(tf.float32, (2, 3, 5), name="x")
        c.session([c.step(fetches=[raw.Softmax(logits=x, name="s"), raw.LogSoftmax(logits=x, name="ls")], feeds={x: f32(2, 3, 5) * 4})])


def _gradient_cases():
    g = f32(2, 5)
    features = np.array([[-3.0, -0.5, 0.0, 0.5, 7.0], [6.0, 5.9, -1e-3, 2.0, -8.0]], np.float32)
    for name, op, pair in [
        ("relu", raw.ReluGrad, ("gradients", "features")),
        ("relu6", raw.Relu6Grad, ("gradients", "features")),
        ("elu", raw.EluGrad, ("gradients", "outputs")),
        ("selu", raw.SeluGrad, ("gradients", "outputs")),
        ("leaky_relu", raw.LeakyReluGrad, ("gradients", "features")),
        ("softplus", raw.SoftplusGrad, ("gradients", "features")),
        ("softsign", raw.SoftsignGrad, ("gradients", "features")),
        ("tanh", raw.TanhGrad, ("y", "dy")),
        ("sigmoid", raw.SigmoidGrad, ("y", "dy")),
        ("sqrt", raw.SqrtGrad, ("y", "dy")),
        ("rsqrt", raw.RsqrtGrad, ("y", "dy")),
        ("reciprocal", raw.ReciprocalGrad, ("y", "dy")),
    ]:
        with Case(f"nn_grad_{name}", f"{op.__name__} on float32 and float64") as c:
            a = tf1.placeholder(tf.float32, (2, 5), name="a")
            b = tf1.placeholder(tf.float32, (2, 5), name="b")
            ad = tf1.placeholder(tf.float64, (2, 5), name="ad")
            bd = tf1.placeholder(tf.float64, (2, 5), name="bd")
            first, second = (g, features) if pair[0] == "gradients" else (features, g)
            out = op(**{pair[0]: a, pair[1]: b}, name="out")
            outd = op(**{pair[0]: ad, pair[1]: bd}, name="outd")
            c.session([c.step(fetches=[out, outd], feeds={a: first, b: second, ad: first.astype(np.float64), bd: second.astype(np.float64)})])

    with Case("nn_grad_leaky_relu_alpha", "LeakyReluGrad with alpha=0.3") as c:
        a = tf1.placeholder(tf.float32, (2, 5), name="a")
        b = tf1.placeholder(tf.float32, (2, 5), name="b")
        out = raw.LeakyReluGrad(gradients=a, features=b, alpha=0.3, name="out")
        c.session([c.step(fetches=[out], feeds={a: g, b: features})])

    with Case("nn_grad_shape_mismatch", "ReluGrad and TanhGrad on tensors of different shapes: invalid") as c:
        a = tf1.placeholder(tf.float32, None, name="a")
        b = tf1.placeholder(tf.float32, None, name="b")
        r = raw.ReluGrad(gradients=a, features=b, name="r")
        t = raw.TanhGrad(y=a, dy=b, name="t")
        c.session([
            c.step(fetches=[r], feeds={a: f32(2, 3), b: f32(3, 2)}),
            c.step(fetches=[t], feeds={a: f32(4), b: f32(5)}),
        ])

    with Case("nn_grad_relu_int32", "ReluGrad and Relu6Grad on int32") as c:
        a = tf1.placeholder(tf.int32, (5,), name="a")
        b = tf1.placeholder(tf.int32, (5,), name="b")
        c.session([c.step(fetches=[raw.ReluGrad(gradients=a, features=b, name="r"), raw.Relu6Grad(gradients=a, features=b, name="r6")],
                          feeds={a: np.array([1, 2, 3, 4, 5], np.int32), b: np.array([-1, 0, 3, 6, 7], np.int32)})])

    with Case("nn_activation_gradients_tf", "tf.gradients through Relu, Relu6, Elu, Selu, LeakyRelu, Softplus, Softsign, Tanh, Sigmoid, Sqrt, Rsqrt, Reciprocal") as c:
        x = tf1.placeholder(tf.float32, (6,), name="x")
        fns = [tf.nn.relu, tf.nn.relu6, tf.nn.elu, tf.nn.selu, tf.nn.leaky_relu, tf.nn.softplus, tf.nn.softsign,
               tf.tanh, tf.sigmoid]
        total = tf.add_n([tf.reduce_sum(f(x)) for f in fns], name="total")
        pos = tf.reduce_sum(tf.sqrt(tf.abs(x) + 1) + tf.math.rsqrt(tf.abs(x) + 1) + tf.math.reciprocal(tf.abs(x) + 1))
        grads = tf.gradients(total + pos, [x])
        c.session([c.step(fetches=[total] + grads, feeds={x: np.array([-2.0, -0.3, 0.2, 1.0, 5.0, 7.0], np.float32)})])


def cases():
    _conv_cases()
    _depthwise_cases()
    _pool_cases()
    _batch_norm_cases()
    _bias_cases()
    _loss_cases()
    _gradient_cases()
