"""Neural-network ops, fourth part (`nn4_*`): float32 Tanh (a vectorised rational
approximation in both TensorFlow and Weft, each a few ulp from the exact value) with half and
bfloat16 beside it, the optimizer updates TensorFlow's CPU registers for complex64 and
complex128 (and the ones it refuses), bfloat16 sparse optimizer updates and scatter ops (each
operation rounded), the bfloat16 optimizer forms TensorFlow refuses, and max pooling over depth
alone (`ksize` = `strides` = [1, 1, 1, d]) with TensorFlow's `Unimplemented` refusals."""
import numpy as np
import tensorflow as tf

from lib import Case, tf1

raw = tf.raw_ops
rng = np.random.default_rng(41)
BF16 = tf.bfloat16.as_numpy_dtype


def f32(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def cplx(dtype, *shape):
    return (f32(*shape) + 1j * f32(*shape)).astype(dtype.as_numpy_dtype)


def _tanh_cases():
    with Case("nn4_tanh_float32_sweep", "float32 Tanh on a sweep of [-12, 12], tiny inputs, ±inf and NaN (both sides approximate to a few ulp)", rtol=2e-6, atol=1e-7) as c:
        x = tf1.placeholder(tf.float32, [None], name="x")
        y = tf.math.tanh(x, name="y")
        sweep = np.linspace(-12, 12, 4099).astype(np.float32)
        special = np.array([0.0, -0.0, 1e-30, -3e-8, 4e-4, np.inf, -np.inf, np.nan, 8.9, 9.0, 9.1, 3e38], np.float32)
        c.session([c.step(fetches=[y], feeds={x: np.concatenate([sweep, special])}),
                   c.step(fetches=[y], feeds={x: sweep[:13]})])
    with Case("nn4_tanh_half_bfloat16", "Tanh on half and bfloat16 (computed in float, rounded once)", rtol=1e-2, atol=1e-3) as c:
        h = tf1.placeholder(tf.float16, [None], name="h")
        b = tf1.placeholder(tf.bfloat16, [None], name="b")
        sweep = np.linspace(-6, 6, 97)
        c.session([c.step(fetches=[tf.math.tanh(h, name="yh"), tf.math.tanh(b, name="yb")],
                          feeds={h: sweep.astype(np.float16), b: sweep.astype(BF16)})])


# name: (number of slots, hyperparameters with their values)
RULES = {
    "GradientDescent": (0, [("alpha", 0.3 - 0.1j)]),
    "Adagrad": (1, [("lr", 0.05 + 0.02j)]),
    "AdagradV2": (1, [("lr", 0.05), ("epsilon", 0.1 + 0.05j)]),
    "Momentum": (1, [("lr", 0.1 - 0.05j), ("momentum", 0.9)]),
    "KerasMomentum": (1, [("lr", 0.1), ("momentum", 0.8 + 0.1j)]),
    "Adam": (2, [("beta1_power", 0.9), ("beta2_power", 0.999), ("lr", 0.01 + 0.01j), ("beta1", 0.9), ("beta2", 0.999), ("epsilon", 1e-3)]),
    "RMSProp": (2, [("lr", 0.01), ("rho", 0.9), ("momentum", 0.5 + 0.1j), ("epsilon", 1e-2)]),
    "CenteredRMSProp": (3, [("lr", 0.01), ("rho", 0.9 - 0.05j), ("momentum", 0.5), ("epsilon", 1e-2)]),
    "Adadelta": (2, [("lr", 1.0), ("rho", 0.95), ("epsilon", 1e-2 + 1e-3j)]),
}
SLOTS = {0: [], 1: ["accum"], 2: {"Adam": ["m", "v"], "RMSProp": ["ms", "mom"], "Adadelta": ["accum", "accum_update"]},
         3: ["mg", "ms", "mom"]}


def _slot_names(rule, count):
    names = SLOTS[count]
    return names[rule] if isinstance(names, dict) else names


def _apply(rule, form, sparse, dtype, variables, grad, indices, scalar, name):
    """The optimizer op `form + Apply/SparseApply + rule` on `variables` (refs or handles)."""
    count, hyper = RULES[rule]
    op = getattr(raw, f"{form}{'SparseApply' if sparse else 'Apply'}{rule}")
    args = dict(zip(["var"] + _slot_names(rule, count), variables))
    args.update({key: scalar(value) for key, value in hyper})
    args["delta" if rule == "GradientDescent" else "grad"] = grad
    if sparse:
        args["indices"] = indices
    if rule in ("Momentum", "KerasMomentum"):
        args["use_nesterov"] = True
    return op(name=name, **args)


def _optimizer_case(prefix, rule, form, sparse, dtype, values, grads, note, **tolerance):
    with Case(prefix, note, **tolerance) as c:
        count, _ = RULES[rule]
        resource = form == "Resource"
        variables = [tf1.Variable(values(), name=f"v{k}", use_resource=resource) for k in range(count + 1)]
        handles = [v.handle if resource else v._ref() for v in variables]
        shape = [3, 2] if sparse else [4, 2]
        g = tf1.placeholder(dtype, shape, name="g")
        indices = tf.constant([2, 0, 2], tf.int64, name="indices")
        scalar = lambda value: np.array(value if dtype.is_complex else np.real(value), dtype.as_numpy_dtype)
        update = _apply(rule, form, sparse, dtype, handles, g, indices, scalar, "update")
        reads = [raw.ReadVariableOp(resource=v.handle, dtype=dtype, name=f"read{k}") if resource else v.value()
                 for k, v in enumerate(variables)]
        init = tf1.global_variables_initializer()
        steps = [c.step(targets=[init])]
        for _ in range(3):
            steps.append(c.step(targets=[update], feeds={g: grads(shape)}))
            steps.append(c.step(fetches=reads))
        c.session(steps)


def _snake(name):
    return "".join("_" + ch.lower() if ch.isupper() else ch for ch in name).lstrip("_").replace("r_m_s_prop", "rms_prop")


def _complex_optimizer_cases():
    for dtype in (tf.complex64, tf.complex128):
        tolerance = dict(rtol=1e-5, atol=1e-6) if dtype == tf.complex64 else dict(rtol=1e-10, atol=1e-12)
        values = lambda: cplx(dtype, 4, 2) + 1.5
        grads = lambda shape: cplx(dtype, *shape)
        for rule in RULES:
            forms = [("Resource", False)] if rule == "KerasMomentum" else [("", False), ("Resource", False)]
            if rule != "GradientDescent" and rule != "Adam":
                forms += [("", True), ("Resource", True)] if rule != "KerasMomentum" else [("Resource", True)]
            for form, sparse in forms:
                op = f"{form}{'SparseApply' if sparse else 'Apply'}{rule}"
                _optimizer_case(f"nn4_{dtype.name}_{_snake(op)}", rule, form, sparse, dtype, values, grads,
                                f"{op} on {dtype.name}: three steps (TensorFlow's complex square roots and quotients)",
                                **tolerance)

    for op, args in (("ApplyFtrl", dict(lr=0.1, l1=0.0, l2=0.0, lr_power=-0.5)),
                     ("ApplyProximalAdagrad", dict(lr=0.1, l1=0.0, l2=0.0)),
                     ("ResourceSparseApplyProximalGradientDescent", dict(alpha=0.1, l1=0.0, l2=0.0))):
        with Case(f"nn4_complex64_{_snake(op)}_refused", f"{op} has no complex64 kernel in TensorFlow") as c:
            resource = op.startswith("Resource")
            v = tf1.Variable(cplx(tf.complex64, 3), name="var", use_resource=resource)
            slots = [tf1.Variable(cplx(tf.complex64, 3), name=f"s{k}", use_resource=resource) for k in range(2)]
            h = lambda x: x.handle if resource else x._ref()
            kwargs = {key: np.complex64(value) for key, value in args.items()}
            if "Ftrl" in op:
                kwargs.update(accum=h(slots[0]), linear=h(slots[1]), grad=cplx(tf.complex64, 3))
            elif "Adagrad" in op:
                kwargs.update(accum=h(slots[0]), grad=cplx(tf.complex64, 3))
            else:
                kwargs.update(grad=cplx(tf.complex64, 2), indices=np.array([0, 2], np.int32))
            update = getattr(raw, op)(var=h(v), name="update", **kwargs)
            # TensorFlow places the whole graph before the first step: with no kernel for the
            # update, even the initializer would fail, so the case runs the update alone.
            c.session([c.step(targets=[update])])


def _bfloat16_sparse_cases():
    values = lambda: f32(4, 2).astype(BF16) + BF16(1.5)
    grads = lambda shape: f32(*shape).astype(BF16)
    for rule in ("Adagrad", "AdagradV2", "Momentum", "Adadelta"):
        for form in ("", "Resource"):
            op = f"{form}SparseApply{rule}"
            _optimizer_case(f"nn4_bfloat16_{_snake(op)}", rule, form, True, tf.bfloat16, values, grads,
                            f"{op} on bfloat16 with a repeated index: each operation rounded",
                            **(dict(rtol=2e-2, atol=1e-2) if rule == "Adadelta" else {}))
    _optimizer_case("nn4_bfloat16_resource_sparse_apply_keras_momentum", "KerasMomentum", "Resource", True, tf.bfloat16,
                    values, grads, "ResourceSparseApplyKerasMomentum on bfloat16: each operation rounded")

    for op in ("SparseApplyRMSProp", "ResourceSparseApplyCenteredRMSProp", "ApplyProximalAdagrad"):
        with Case(f"nn4_bfloat16_{_snake(op)}_refused", f"{op} has no bfloat16 kernel in TensorFlow") as c:
            resource = op.startswith("Resource")
            variables = [tf1.Variable(values(), name=f"v{k}", use_resource=resource) for k in range(4)]
            h = [v.handle if resource else v._ref() for v in variables]
            b = lambda x: np.array(x, BF16)
            g2, idx = f32(2, 2).astype(BF16), np.array([0, 3], np.int32)
            if op == "SparseApplyRMSProp":
                update = raw.SparseApplyRMSProp(var=h[0], ms=h[1], mom=h[2], lr=b(0.1), rho=b(0.9), momentum=b(0.5),
                                                epsilon=b(0.01), grad=g2, indices=idx, name="update")
            elif op == "ResourceSparseApplyCenteredRMSProp":
                update = raw.ResourceSparseApplyCenteredRMSProp(var=h[0], mg=h[1], ms=h[2], mom=h[3], lr=b(0.1), rho=b(0.9),
                                                                momentum=b(0.5), epsilon=b(0.01), grad=g2, indices=idx,
                                                                name="update")
            else:
                update = raw.ApplyProximalAdagrad(var=h[0], accum=h[1], lr=b(0.1), l1=b(0.0), l2=b(0.0),
                                                  grad=f32(4, 2).astype(BF16), name="update")
            # TensorFlow places the whole graph before the first step: with no kernel for the
            # update, even the initializer would fail, so the case runs the update alone.
            c.session([c.step(targets=[update])])


def _bfloat16_ftrl_case():
    with Case("nn4_bfloat16_sparse_apply_ftrl", "SparseApplyFtrl and ResourceSparseApplyFtrlV2 on bfloat16 with a repeated index: each operation rounded") as c:
        b = lambda x: np.array(x, BF16)
        ref = [tf1.Variable(np.abs(f32(4, 2)).astype(BF16) + BF16(0.5), name=f"r{k}", use_resource=False) for k in range(3)]
        res = [tf1.Variable(np.abs(f32(4, 2)).astype(BF16) + BF16(0.5), name=f"h{k}", use_resource=True) for k in range(3)]
        g = tf1.placeholder(tf.bfloat16, [3, 2], name="g")
        idx = np.array([1, 3, 1], np.int32)
        v1 = raw.SparseApplyFtrl(var=ref[0]._ref(), accum=ref[1]._ref(), linear=ref[2]._ref(), grad=g, indices=idx,
                                 lr=b(0.1), l1=b(0.01), l2=b(0.02), lr_power=b(-0.5), name="ftrl")
        v2 = raw.ResourceSparseApplyFtrlV2(var=res[0].handle, accum=res[1].handle, linear=res[2].handle, grad=g,
                                           indices=idx, lr=b(0.1), l1=b(0.01), l2=b(0.02), l2_shrinkage=b(0.05),
                                           lr_power=b(-0.5), name="ftrl_v2")
        reads = [v.value() for v in ref] + [raw.ReadVariableOp(resource=v.handle, dtype=tf.bfloat16, name=f"read{k}")
                                            for k, v in enumerate(res)]
        steps = [c.step(targets=[tf1.global_variables_initializer()])]
        for _ in range(3):
            steps += [c.step(targets=[v1, v2], feeds={g: f32(3, 2).astype(BF16)}), c.step(fetches=reads)]
        c.session(steps)


def _bfloat16_scatter_cases():
    for resource in (False, True):
        prefix = "resource_" if resource else ""
        with Case(f"nn4_bfloat16_{prefix}scatter", f"{'Resource' if resource else ''}ScatterAdd/Sub/Update/Mul/Div/Min/Max on bfloat16 with repeated indices and a scalar update: each combination rounded") as c:
            base = f32(5, 3).astype(BF16)
            variables = {op: tf1.Variable(base, name=f"var_{op}", use_resource=resource)
                         for op in ("Add", "Sub", "Update", "Mul", "Div", "Min", "Max")}
            indices = tf1.placeholder(tf.int32, [None], name="indices")
            updates = tf1.placeholder(tf.bfloat16, [None, 3], name="updates")
            scalar = tf1.placeholder(tf.bfloat16, [], name="scalar")
            ops, scalar_ops, reads = [], [], []
            for op, v in variables.items():
                if resource:
                    ops.append(getattr(raw, f"ResourceScatter{op}")(resource=v.handle, indices=indices, updates=updates, name=f"scatter_{op}"))
                    scalar_ops.append(getattr(raw, f"ResourceScatter{op}")(resource=v.handle, indices=indices, updates=scalar, name=f"scalar_{op}"))
                    reads.append(raw.ReadVariableOp(resource=v.handle, dtype=tf.bfloat16, name=f"read_{op}"))
                else:
                    ops.append(getattr(raw, f"Scatter{op}")(ref=v._ref(), indices=indices, updates=updates, name=f"scatter_{op}"))
                    scalar_ops.append(getattr(raw, f"Scatter{op}")(ref=v._ref(), indices=indices, updates=scalar, name=f"scalar_{op}"))
                    reads.append(v.value())
            idx = np.array([1, 4, 1, 0], np.int32)
            ups = (f32(4, 3) * 3).astype(BF16)
            c.session([
                c.step(targets=[tf1.global_variables_initializer()]),
                c.step(targets=ops, feeds={indices: idx, updates: ups}),
                c.step(fetches=reads),
                c.step(targets=scalar_ops, feeds={indices: np.array([3, 3], np.int32), scalar: BF16(0.3)}),
                c.step(fetches=reads),
            ])


def _depth_pool_cases():
    x = rng.integers(-5, 6, (2, 3, 2, 6)).astype(np.float32)
    x[0, 0, 0, 0] = np.nan
    x[0, 1, 0, 4] = np.nan
    with Case("nn4_max_pool_depth", "MaxPool and MaxPoolV2 over depth: windows 2, 3 and 6, SAME and VALID, spatial strides ignored, a NaN first in its window (kept) and inside it (skipped)") as c:
        p = tf1.placeholder(tf.float32, [None, 3, 2, 6], name="x")
        outputs = [
            raw.MaxPool(input=p, ksize=[1, 1, 1, 2], strides=[1, 1, 1, 2], padding="VALID", name="d2"),
            raw.MaxPool(input=p, ksize=[1, 1, 1, 3], strides=[1, 2, 3, 3], padding="SAME", name="d3_strided"),
            raw.MaxPool(input=p, ksize=[1, 1, 1, 6], strides=[1, 1, 1, 6], padding="VALID", name="d6"),
            raw.MaxPoolV2(input=p, ksize=[1, 1, 1, 3], strides=[1, 1, 1, 3], padding="VALID", name="v2_d3"),
            raw.MaxPool(input=p, ksize=[1, 2, 2, 1], strides=[1, 1, 1, 2], padding="VALID", name="spatial_depth_stride"),
        ]
        c.session([c.step(fetches=outputs, feeds={p: x}), c.step(fetches=outputs, feeds={p: np.zeros((0, 3, 2, 6), np.float32)})])
    for dtype in (tf.float64, tf.float16, tf.bfloat16, tf.int32, tf.int8, tf.uint8, tf.int64):
        with Case(f"nn4_max_pool_depth_{dtype.name}", f"MaxPool over depth (window 3) on {dtype.name}") as c:
            p = tf1.placeholder(dtype, [2, 3, 2, 6], name="x")
            y = raw.MaxPool(input=p, ksize=[1, 1, 1, 3], strides=[1, 1, 1, 3], padding="VALID", name="y")
            values = rng.integers(0 if dtype == tf.uint8 else -100, 100, (2, 3, 2, 6))
            c.session([c.step(fetches=[y], feeds={p: values.astype(dtype.as_numpy_dtype)})])
    for name, ksize, strides, op in (
        ("uneven", [1, 1, 1, 4], [1, 1, 1, 4], "MaxPool"),
        ("stride", [1, 1, 1, 3], [1, 1, 1, 2], "MaxPool"),
        ("unit_stride", [1, 1, 1, 3], [1, 1, 1, 1], "MaxPool"),
        ("spatial_and_depth", [1, 2, 1, 3], [1, 1, 1, 3], "MaxPool"),
        ("v2_uneven", [1, 1, 1, 4], [1, 1, 1, 4], "MaxPoolV2"),
        ("avg", [1, 1, 1, 3], [1, 1, 1, 3], "AvgPool"),
    ):
        with Case(f"nn4_max_pool_depth_refused_{name}", f"{op} ksize {ksize} strides {strides} on depth 6: TensorFlow's Unimplemented") as c:
            p = tf1.placeholder(tf.float32, [2, 3, 2, 6], name="x")
            if op == "AvgPool":
                y = raw.AvgPool(value=p, ksize=ksize, strides=strides, padding="VALID", name="y")
            else:
                y = getattr(raw, op)(input=p, ksize=ksize, strides=strides, padding="VALID", name="y")
            c.session([c.step(fetches=[y], feeds={p: x})])


def cases():
    _tanh_cases()
    _complex_optimizer_cases()
    _bfloat16_sparse_cases()
    _bfloat16_ftrl_case()
    _bfloat16_scatter_cases()
    _depth_pool_cases()
