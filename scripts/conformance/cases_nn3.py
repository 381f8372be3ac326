"""Neural-network ops, third part (`nn3_*`): the max-pooling ops with `ksize` and `strides` as
inputs (MaxPoolV2, MaxPoolGradV2, MaxPoolGradGradV2), MaxPoolGradGrad, integer max-pooling
gradients, the bfloat16 forms TensorFlow's CPU registers for the convolution and pooling
backprops and for FusedBatchNorm V2/V3 (bfloat16 `T`, float32 `U`), bfloat16 variables and
optimizer updates (TensorFlow rounds after every operation of an update), and complex Cumsum,
Cumprod, BiasAddGrad and the trigonometric and hyperbolic ops.

bfloat16 results of composite kernels (convolutions, pooling gradients, batch norm) are computed
in float32 and rounded once, where TensorFlow may round partial sums: those cases allow one
bfloat16 step (rtol 1e-2)."""
import numpy as np
import tensorflow as tf

from lib import Case, tf1

raw = tf.raw_ops
rng = np.random.default_rng(31)
BF16 = tf.bfloat16.as_numpy_dtype
BF16_TOLERANCE = dict(rtol=1e-2, atol=1e-2)


def f32(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def ties(*shape, dtype=np.float32):
    """Small integers, so windows hold repeated maxima."""
    return rng.integers(-3, 4, shape).astype(dtype)


def _max_pool_v2_cases():
    for name, xs, k, s, padding in [
        ("same", (2, 5, 6, 3), 3, 1, "SAME"),
        ("valid_stride2", (1, 7, 6, 2), 2, 2, "VALID"),
        ("same_stride2_window3", (2, 7, 8, 4), 3, 2, "SAME"),
    ]:
        with Case(f"nn3_max_pool_v2_{name}", f"MaxPoolV2 and its gradients with ksize and strides as inputs, {padding}") as c:
            x = tf1.placeholder(tf.float32, xs, name="x")
            ksize = tf1.placeholder(tf.int32, [4], name="ksize")
            strides = tf1.placeholder(tf.int32, [4], name="strides")
            y = raw.MaxPoolV2(input=x, ksize=ksize, strides=strides, padding=padding, name="y")
            dy = tf1.placeholder(tf.float32, None, name="dy")
            dx = raw.MaxPoolGradV2(orig_input=x, orig_output=y, grad=dy, ksize=ksize, strides=strides,
                                   padding=padding, name="dx")
            ddx = tf1.placeholder(tf.float32, xs, name="ddx")
            ddy = raw.MaxPoolGradGradV2(orig_input=x, orig_output=y, grad=ddx, ksize=ksize, strides=strides,
                                        padding=padding, name="ddy")
            out_shape = tf1.Session().run(tf.shape(raw.MaxPool(input=np.zeros(xs, np.float32), ksize=[1, k, k, 1],
                                                              strides=[1, s, s, 1], padding=padding)))
            c.session([c.step(fetches=[y, dx, ddy], feeds={
                x: ties(*xs), ksize: [1, k, k, 1], strides: [1, s, s, 1],
                dy: f32(*out_shape), ddx: f32(*xs),
            })])

    with Case("nn3_max_pool_v2_const_sizes", "MaxPoolV2 with constant ksize and strides, float64 and half") as c:
        x64 = tf1.placeholder(tf.float64, [1, 4, 5, 2], name="x64")
        x16 = tf1.placeholder(tf.float16, [1, 4, 5, 2], name="x16")
        y64 = raw.MaxPoolV2(input=x64, ksize=[1, 2, 3, 1], strides=[1, 1, 2, 1], padding="SAME", name="y64")
        y16 = raw.MaxPoolV2(input=x16, ksize=[1, 2, 3, 1], strides=[1, 1, 2, 1], padding="VALID", name="y16")
        c.session([c.step(fetches=[y64, y16], feeds={x64: f32(1, 4, 5, 2).astype(np.float64),
                                                     x16: f32(1, 4, 5, 2).astype(np.float16)})])

    for dtype in (tf.int32, tf.uint8, tf.int64):
        name = dtype.name
        with Case(f"nn3_max_pool_{name}_gradients", f"MaxPoolV2, MaxPoolGrad(V2) and MaxPoolGradGrad on {name}: the first maximum of a window takes the gradient") as c:
            x = tf1.placeholder(dtype, [2, 4, 5, 3], name="x")
            y = raw.MaxPoolV2(input=x, ksize=[1, 2, 2, 1], strides=[1, 1, 1, 1], padding="SAME", name="y")
            dy = tf1.placeholder(dtype, [2, 4, 5, 3], name="dy")
            dx = raw.MaxPoolGrad(orig_input=x, orig_output=y, grad=dy, ksize=[1, 2, 2, 1], strides=[1, 1, 1, 1],
                                 padding="SAME", name="dx")
            dx2 = raw.MaxPoolGradV2(orig_input=x, orig_output=y, grad=dy, ksize=[1, 2, 2, 1], strides=[1, 1, 1, 1],
                                    padding="SAME", name="dx2")
            ddy = raw.MaxPoolGradGrad(orig_input=x, orig_output=y, grad=dy, ksize=[1, 2, 2, 1],
                                      strides=[1, 1, 1, 1], padding="SAME", name="ddy")
            values = rng.integers(0, 5, (2, 4, 5, 3))
            grads = rng.integers(0, 100 if dtype == tf.uint8 else 1000, (2, 4, 5, 3))
            c.session([c.step(fetches=[y, dx, dx2, ddy], feeds={x: values.astype(dtype.as_numpy_dtype),
                                                                dy: grads.astype(dtype.as_numpy_dtype)})])

    with Case("nn3_max_pool_grad_int8_wraps", "MaxPoolGrad on int8 whose routed sums overflow: they wrap") as c:
        x = tf1.placeholder(tf.int8, [1, 3, 3, 1], name="x")
        y = raw.MaxPool(input=x, ksize=[1, 3, 3, 1], strides=[1, 1, 1, 1], padding="SAME", name="y")
        dy = tf1.placeholder(tf.int8, [1, 3, 3, 1], name="dy")
        dx = raw.MaxPoolGrad(orig_input=x, orig_output=y, grad=dy, ksize=[1, 3, 3, 1], strides=[1, 1, 1, 1],
                             padding="SAME", name="dx")
        c.session([c.step(fetches=[dx], feeds={x: np.array([0, 0, 0, 0, 9, 0, 0, 0, 0], np.int8).reshape(1, 3, 3, 1),
                                               dy: np.full((1, 3, 3, 1), 100, np.int8)})])

    with Case("nn3_max_pool_grad_grad_orig_output", "MaxPoolGradGrad reads the gradient where the input equals orig_output, zero where nothing does (NaN never matches)") as c:
        x = tf1.placeholder(tf.float32, [1, 4, 4, 1], name="x")
        y = tf1.placeholder(tf.float32, [1, 2, 2, 1], name="y")
        g = tf1.placeholder(tf.float32, [1, 4, 4, 1], name="g")
        ddy = raw.MaxPoolGradGrad(orig_input=x, orig_output=y, grad=g, ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1],
                                  padding="VALID", name="ddy")
        values = np.array([1, 3, 3, 2, 3, 0, 1, 3, 2, 2, np.nan, 2, 0, 1, 2, 2], np.float32).reshape(1, 4, 4, 1)
        c.session([c.step(fetches=[ddy], feeds={
            x: values, y: np.array([0, 2, 7, np.nan], np.float32).reshape(1, 2, 2, 1),
            g: np.arange(1, 17, dtype=np.float32).reshape(1, 4, 4, 1),
        })])

    with Case("nn3_max_pool_v2_batch_window", "MaxPoolV2 with a window over the batch: unimplemented, as in TensorFlow") as c:
        x = tf1.placeholder(tf.float32, [2, 4, 4, 1], name="x")
        ksize = tf1.placeholder(tf.int32, None, name="ksize")
        y = raw.MaxPoolV2(input=x, ksize=ksize, strides=[1, 1, 1, 1], padding="VALID", name="y")
        c.session([c.step(fetches=[y], feeds={x: f32(2, 4, 4, 1), ksize: [2, 2, 2, 1]})])

    with Case("nn3_max_pool_v2_ksize_length", "MaxPoolV2 with a ksize of three values: invalid") as c:
        x = tf1.placeholder(tf.float32, [2, 4, 4, 1], name="x")
        ksize = tf1.placeholder(tf.int32, None, name="ksize")
        y = raw.MaxPoolV2(input=x, ksize=ksize, strides=[1, 1, 1, 1], padding="VALID", name="y")
        c.session([c.step(fetches=[y], feeds={x: f32(2, 4, 4, 1), ksize: [1, 2, 2]})])

    with Case("nn3_max_pool_v2_nonpositive_window", "MaxPoolV2 with a zero window: invalid") as c:
        x = tf1.placeholder(tf.float32, [2, 4, 4, 1], name="x")
        ksize = tf1.placeholder(tf.int32, None, name="ksize")
        y = raw.MaxPoolV2(input=x, ksize=ksize, strides=[1, 1, 1, 1], padding="VALID", name="y")
        c.session([c.step(fetches=[y], feeds={x: f32(2, 4, 4, 1), ksize: [1, 0, 2, 1]})])

    with Case("nn3_max_pool_grad_grad_shape", "MaxPoolGradGrad whose grad is not the input's shape: invalid") as c:
        x = tf1.placeholder(tf.float32, None, name="x")
        y = tf1.placeholder(tf.float32, None, name="y")
        g = tf1.placeholder(tf.float32, None, name="g")
        ddy = raw.MaxPoolGradGrad(orig_input=x, orig_output=y, grad=g, ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1],
                                  padding="VALID", name="ddy")
        c.session([c.step(fetches=[ddy], feeds={x: f32(1, 4, 4, 1), y: f32(1, 2, 2, 1), g: f32(1, 4, 3, 1)})])


def _bfloat16_nn_cases():
    with Case("nn3_bfloat16_pool_gradients", "bfloat16 MaxPoolV2, MaxPoolGradV2, MaxPoolGradGrad(V2) and AvgPoolGrad", **BF16_TOLERANCE) as c:
        x = tf1.placeholder(tf.bfloat16, [2, 5, 5, 3], name="x")
        y = raw.MaxPoolV2(input=x, ksize=[1, 3, 3, 1], strides=[1, 2, 2, 1], padding="SAME", name="y")
        dy = tf1.placeholder(tf.bfloat16, [2, 3, 3, 3], name="dy")
        dx = raw.MaxPoolGradV2(orig_input=x, orig_output=y, grad=dy, ksize=[1, 3, 3, 1], strides=[1, 2, 2, 1],
                               padding="SAME", name="dx")
        ddx = tf1.placeholder(tf.bfloat16, [2, 5, 5, 3], name="ddx")
        ddy = raw.MaxPoolGradGrad(orig_input=x, orig_output=y, grad=ddx, ksize=[1, 3, 3, 1], strides=[1, 2, 2, 1],
                                  padding="SAME", name="ddy")
        ddy2 = raw.MaxPoolGradGradV2(orig_input=x, orig_output=y, grad=ddx, ksize=[1, 3, 3, 1], strides=[1, 2, 2, 1],
                                     padding="SAME", name="ddy2")
        avg = raw.AvgPoolGrad(orig_input_shape=[2, 5, 5, 3], grad=dy, ksize=[1, 3, 3, 1], strides=[1, 2, 2, 1],
                              padding="SAME", name="avg")
        c.session([c.step(fetches=[y, dx, ddy, ddy2, avg], feeds={
            x: f32(2, 5, 5, 3).astype(BF16), dy: f32(2, 3, 3, 3).astype(BF16), ddx: f32(2, 5, 5, 3).astype(BF16),
        })])

    # TensorFlow sums these products in bfloat16, a rounding per term: its result may be a few
    # bfloat16 steps from the exact sum Weft rounds once.
    with Case("nn3_bfloat16_conv_backprops", "bfloat16 Conv2DBackpropFilter and the DepthwiseConv2dNative backprops (TensorFlow sums in bfloat16, so a few steps apart)", rtol=8e-2, atol=5e-2) as c:
        x = tf1.placeholder(tf.bfloat16, [2, 6, 5, 3], name="x")
        dy = tf1.placeholder(tf.bfloat16, [2, 3, 3, 4], name="dy")
        dw = raw.Conv2DBackpropFilter(input=x, filter_sizes=[3, 3, 3, 4], out_backprop=dy, strides=[1, 2, 2, 1],
                                      padding="SAME", name="dw")
        ddy = tf1.placeholder(tf.bfloat16, [2, 3, 3, 6], name="ddy")
        wd = tf1.placeholder(tf.bfloat16, [3, 3, 3, 2], name="wd")
        ddw = raw.DepthwiseConv2dNativeBackpropFilter(input=x, filter_sizes=[3, 3, 3, 2], out_backprop=ddy,
                                                      strides=[1, 2, 2, 1], padding="SAME", name="ddw")
        ddx = raw.DepthwiseConv2dNativeBackpropInput(input_sizes=[2, 6, 5, 3], filter=wd, out_backprop=ddy,
                                                     strides=[1, 2, 2, 1], padding="SAME", name="ddx")
        c.session([c.step(fetches=[dw, ddw, ddx], feeds={
            x: f32(2, 6, 5, 3).astype(BF16), dy: f32(2, 3, 3, 4).astype(BF16),
            ddy: f32(2, 3, 3, 6).astype(BF16), wd: f32(3, 3, 3, 2).astype(BF16),
        })])

    for version, op in (("v3", raw.FusedBatchNormV3), ("v2", raw.FusedBatchNormV2)):
        with Case(f"nn3_bfloat16_fused_batch_norm_{version}", f"bfloat16 FusedBatchNorm{version.upper()} (float32 statistics) in training and inference, and its gradient", **BF16_TOLERANCE) as c:
            x = tf1.placeholder(tf.bfloat16, [2, 3, 4, 5], name="x")
            scale = tf1.placeholder(tf.float32, [5], name="scale")
            offset = tf1.placeholder(tf.float32, [5], name="offset")
            mean = tf1.placeholder(tf.float32, [5], name="mean")
            var = tf1.placeholder(tf.float32, [5], name="var")
            train = op(x=x, scale=scale, offset=offset, mean=mean, variance=var, epsilon=0.001,
                       exponential_avg_factor=0.5, is_training=True, name="train")
            infer = op(x=x, scale=scale, offset=offset, mean=mean, variance=var, epsilon=0.001,
                       is_training=False, name="infer")
            dy = tf1.placeholder(tf.bfloat16, [2, 3, 4, 5], name="dy")
            if version == "v3":
                grad = raw.FusedBatchNormGradV3(y_backprop=dy, x=x, scale=scale, reserve_space_1=train[3],
                                                reserve_space_2=train[4], reserve_space_3=train[5], epsilon=0.001,
                                                is_training=True, name="grad")
            else:
                grad = raw.FusedBatchNormGradV2(y_backprop=dy, x=x, scale=scale, reserve_space_1=train[3],
                                                reserve_space_2=train[4], epsilon=0.001, is_training=True, name="grad")
            c.session([c.step(fetches=[train[0], train[1], train[2], infer[0], grad[0], grad[1], grad[2]], feeds={
                x: f32(2, 3, 4, 5).astype(BF16), scale: f32(5), offset: f32(5), mean: f32(5),
                var: np.abs(f32(5)) + 0.5, dy: f32(2, 3, 4, 5).astype(BF16),
            })])


def _bfloat16_variable_cases():
    with Case("nn3_bfloat16_variables", "bfloat16 ref and resource variables: Assign, AssignAdd, AssignSub, ReadVariableOp and the resource assigns") as c:
        v = tf1.Variable(np.array([1.5, -2.25, 3.0], BF16), name="v", use_resource=False)
        r = tf1.Variable(np.array([0.5, 0.25, -8.0], BF16), name="r", use_resource=True)
        delta = tf1.placeholder(tf.bfloat16, [3], name="delta")
        add = tf1.assign_add(v, delta, name="add")
        sub = tf1.assign_sub(v, delta, name="sub")
        set_ = tf1.assign(v, delta * 2, name="set")
        radd = raw.AssignAddVariableOp(resource=r.handle, value=delta, name="radd")
        rsub = raw.AssignSubVariableOp(resource=r.handle, value=delta * 3, name="rsub")
        read = raw.ReadVariableOp(resource=r.handle, dtype=tf.bfloat16, name="read")
        init = tf1.global_variables_initializer()
        d = np.array([0.1, 1000.0, -0.007], BF16)
        c.session([
            c.step(targets=[init]),
            c.step(fetches=[add], feeds={delta: d}),
            c.step(fetches=[sub], feeds={delta: d}),
            c.step(fetches=[set_], feeds={delta: d}),
            c.step(targets=[radd], feeds={delta: d}),
            c.step(fetches=[read]),
            c.step(targets=[rsub], feeds={delta: d}),
            c.step(fetches=[read]),
        ])


def _optimizer_case(name, note, build, **tolerance):
    with Case(f"nn3_bfloat16_{name}", note, **tolerance) as c:
        var = tf1.Variable(f32(4, 3).astype(BF16), name="var", use_resource=False)
        slots = [tf1.Variable(np.abs(f32(4, 3)).astype(BF16) + BF16(0.1), name=f"slot{i}", use_resource=False)
                 for i in range(3)]
        g = tf1.placeholder(tf.bfloat16, [4, 3], name="g")
        update = build(var, slots, g)
        init = tf1.global_variables_initializer()
        steps = [c.step(targets=[init])]
        for _ in range(3):
            steps.append(c.step(targets=[update], feeds={g: f32(4, 3).astype(BF16)}))
            steps.append(c.step(fetches=[var.value()] + [s.value() for s in slots]))
        c.session(steps)


def _bfloat16_optimizer_cases():
    b = lambda x: np.array(x, BF16)
    _optimizer_case("apply_gradient_descent", "bfloat16 ApplyGradientDescent: var -= alpha * delta, each operation rounded",
                    lambda v, s, g: raw.ApplyGradientDescent(var=v, alpha=b(0.37), delta=g, name="update"))
    _optimizer_case("apply_momentum_nesterov", "bfloat16 ApplyMomentum with Nesterov, each operation rounded",
                    lambda v, s, g: raw.ApplyMomentum(var=v, accum=s[0], lr=b(0.1), grad=g, momentum=b(0.9),
                                                      use_nesterov=True, name="update"))
    _optimizer_case("apply_adam", "bfloat16 ApplyAdam, each operation rounded",
                    lambda v, s, g: raw.ApplyAdam(var=v, m=s[0], v=s[1], beta1_power=b(0.9), beta2_power=b(0.999),
                                                  lr=b(0.01), beta1=b(0.9), beta2=b(0.999), epsilon=b(1e-3),
                                                  grad=g, name="update"))
    _optimizer_case("apply_adagrad", "bfloat16 ApplyAdagrad, each operation rounded",
                    lambda v, s, g: raw.ApplyAdagrad(var=v, accum=s[0], lr=b(0.05), grad=g, name="update"))
    _optimizer_case("apply_rms_prop", "bfloat16 ApplyRMSProp, each operation rounded",
                    lambda v, s, g: raw.ApplyRMSProp(var=v, ms=s[0], mom=s[1], lr=b(0.01), rho=b(0.9),
                                                     momentum=b(0.5), epsilon=b(1e-2), grad=g, name="update"))
    # TensorFlow's reciprocal square root on bfloat16 packets rounds differently from 1/√x
    # rounded once on a few elements (not pinned down): two bfloat16 steps are allowed.
    _optimizer_case("apply_adadelta", "bfloat16 ApplyAdadelta, each operation rounded (rsqrt within two bfloat16 steps)",
                    lambda v, s, g: raw.ApplyAdadelta(var=v, accum=s[0], accum_update=s[1], lr=b(1.0), rho=b(0.95),
                                                      epsilon=b(1e-2), grad=g, name="update"),
                    rtol=2e-2, atol=1e-2)
    _optimizer_case("apply_ftrl", "bfloat16 ApplyFtrl, each operation rounded",
                    lambda v, s, g: raw.ApplyFtrl(var=v, accum=s[0], linear=s[1], grad=g, lr=b(0.1), l1=b(0.01),
                                                  l2=b(0.02), lr_power=b(-0.5), name="update"))

    with Case("nn3_bfloat16_resource_apply_adam", "bfloat16 ResourceApplyAdam and ResourceApplyKerasMomentum on resource variables") as c:
        var = tf1.Variable(f32(5).astype(BF16), name="var", use_resource=True)
        m = tf1.Variable(np.zeros(5, BF16), name="m", use_resource=True)
        s = tf1.Variable(np.zeros(5, BF16), name="s", use_resource=True)
        w = tf1.Variable(f32(5).astype(BF16), name="w", use_resource=True)
        accum = tf1.Variable(np.zeros(5, BF16), name="accum", use_resource=True)
        g = tf1.placeholder(tf.bfloat16, [5], name="g")
        b = lambda x: np.array(x, BF16)
        adam = raw.ResourceApplyAdam(var=var.handle, m=m.handle, v=s.handle, beta1_power=b(0.9), beta2_power=b(0.999),
                                     lr=b(0.01), beta1=b(0.9), beta2=b(0.999), epsilon=b(1e-3), grad=g, name="adam")
        keras = raw.ResourceApplyKerasMomentum(var=w.handle, accum=accum.handle, lr=b(0.1), grad=g, momentum=b(0.9),
                                               name="keras")
        reads = [raw.ReadVariableOp(resource=x.handle, dtype=tf.bfloat16, name=f"read_{n}")
                 for n, x in (("var", var), ("m", m), ("s", s), ("w", w), ("accum", accum))]
        init = tf1.global_variables_initializer()
        steps = [c.step(targets=[init])]
        for _ in range(3):
            steps.append(c.step(targets=[adam, keras], feeds={g: f32(5).astype(BF16)}))
            steps.append(c.step(fetches=reads))
        c.session(steps)


def _complex_cases():
    for dtype in (tf.complex64, tf.complex128):
        name = dtype.name
        values = (f32(3, 4) + 1j * f32(3, 4)).astype(dtype.as_numpy_dtype)
        with Case(f"nn3_{name}_scans", f"Cumsum and Cumprod on {name}: exclusive, reverse, negative axis", rtol=1e-5, atol=1e-6) as c:
            z = tf1.placeholder(dtype, [3, 4], name="z")
            outputs = [
                raw.Cumsum(x=z, axis=0, name="sum0"),
                raw.Cumsum(x=z, axis=-1, exclusive=True, reverse=True, name="sum_exclusive_reverse"),
                raw.Cumprod(x=z, axis=1, name="prod1"),
                raw.Cumprod(x=z, axis=0, exclusive=True, name="prod_exclusive"),
                raw.Cumprod(x=z, axis=tf.constant(-2, tf.int64), reverse=True, name="prod_reverse"),
            ]
            c.session([c.step(fetches=outputs, feeds={z: values})])

        with Case(f"nn3_{name}_bias_add_grad", f"BiasAddGrad on {name} in NHWC and NCHW", rtol=1e-5, atol=1e-6) as c:
            z = tf1.placeholder(dtype, [2, 3, 4, 5], name="z")
            nhwc = raw.BiasAddGrad(out_backprop=z, data_format="NHWC", name="nhwc")
            nchw = raw.BiasAddGrad(out_backprop=z, data_format="NCHW", name="nchw")
            big = (f32(2, 3, 4, 5) + 1j * f32(2, 3, 4, 5)).astype(dtype.as_numpy_dtype)
            c.session([c.step(fetches=[nhwc, nchw], feeds={z: big})])

        with Case(f"nn3_{name}_trigonometric", f"Tan, Asin, Acos, Atan, Sinh, Cosh, Asinh, Acosh, Atanh on {name}, across their branch cuts", rtol=1e-5 if dtype == tf.complex64 else 1e-9, atol=1e-6 if dtype == tf.complex64 else 1e-12) as c:
            z = tf1.placeholder(dtype, [None], name="z")
            outputs = [getattr(raw, op)(x=z, name=op.lower()) for op in
                       ("Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh")]
            points = np.array([0.5 + 0.25j, -1.5 + 2j, 3 - 0.5j, 0j, -0.2 - 0.7j, -2 + 0j, 2.5 + 0j, 0.3 - 1.7j,
                               -0.9 + 0.1j, 1.2 + 3.1j, -4 - 2j, 0.01 + 0.02j], dtype.as_numpy_dtype)
            c.session([c.step(fetches=outputs, feeds={z: points})])


def _real_trigonometric_cases():
    points = np.array([0.5, -0.3, 0.99, -0.75, 0.0, 1.0, -1.0, 1.5, 2.0, -3.0, 10.0, np.inf, np.nan], np.float64)
    for dtype, tolerance in ((tf.float32, dict(rtol=1e-6, atol=1e-7)), (tf.float64, dict(rtol=1e-12, atol=1e-14)),
                             (tf.float16, dict(rtol=1e-3, atol=1e-3)), (tf.bfloat16, BF16_TOLERANCE)):
        name = dtype.name
        with Case(f"nn3_{name}_trigonometric", f"Tan, Asin, Acos, Atan, Sinh, Cosh, Asinh, Acosh, Atanh on {name}, inside and outside their domains", **tolerance) as c:
            x = tf1.placeholder(dtype, [None], name="x")
            outputs = [getattr(raw, op)(x=x, name=op.lower()) for op in
                       ("Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh")]
            c.session([c.step(fetches=outputs, feeds={x: points.astype(dtype.as_numpy_dtype)})])


def cases():
    _max_pool_v2_cases()
    _bfloat16_nn_cases()
    _bfloat16_variable_cases()
    _bfloat16_optimizer_cases()
    _complex_cases()
    _real_trigonometric_cases()
