"""Training: the optimizers' fused update ops (ApplyAdam, SparseApplyMomentum, …), the scatter
ops, and resource variables, each run for three steps on ref and resource variables with the
variables fetched after every step."""
import numpy as np
import tensorflow as tf

from tensorflow.python.ops import resource_variable_ops

from lib import Case, tf1

R = tf1.raw_ops
F32 = np.float32


def var(value, name, resource=False, dtype=F32):
    return tf1.Variable(np.array(value, dtype), name=name, use_resource=resource)


def ref(v):
    """What a raw op takes for a variable: the ref tensor, or the resource handle."""
    return v.handle if isinstance(v, resource_variable_ops.BaseResourceVariable) else v._ref()


def grads(shape, steps=3, seed=0, dtype=F32):
    """Different gradients for every step, with both signs."""
    rng = np.random.RandomState(seed)
    return [(rng.uniform(-1.0, 1.0, shape)).astype(dtype) for _ in range(steps)]


def three_steps(c, train, variables, feeds_per_step, fetch_train=False):
    """Initializes, then runs `train` once per feed dict (as a target, or fetching the op's ref
    output), fetching every variable after each run."""
    steps = [c.step(targets=[tf1.global_variables_initializer()])]
    for feeds in feeds_per_step:
        if fetch_train:
            steps.append(c.step(fetches=[train], feeds=feeds))
        else:
            steps.append(c.step(targets=[getattr(train, "op", train)], feeds=feeds))
        steps.append(c.step(fetches=[v.value() for v in variables]))
    c.session(steps)


def optimizer_case(name, note, make_optimizer, resource, shape=(2, 3), dtype=F32, rtol=1e-5, atol=1e-7):
    with Case(name, note, rtol=rtol, atol=atol) as c:
        w = var(np.linspace(-1.0, 1.5, int(np.prod(shape))).reshape(shape), "w", resource, dtype)
        b = var(np.full(shape[-1:], 0.5), "b", resource, dtype)
        gw = tf1.placeholder(dtype, shape, name="gw")
        gb = tf1.placeholder(dtype, shape[-1:], name="gb")
        optimizer = make_optimizer()
        train = optimizer.apply_gradients([(gw, w), (gb, b)], name="train")
        slots = [optimizer.get_slot(v, s) for s in optimizer.get_slot_names() for v in (w, b)]
        feeds = [{gw: a, gb: z} for a, z in zip(grads(shape, dtype=dtype), grads(shape[-1:], seed=1, dtype=dtype))]
        three_steps(c, train, [w, b] + [s for s in slots if s is not None], feeds)


OPTIMIZERS = [
    ("gradient_descent", "GradientDescent", lambda: tf1.train.GradientDescentOptimizer(0.1)),
    ("momentum", "Momentum", lambda: tf1.train.MomentumOptimizer(0.1, 0.9)),
    ("momentum_nesterov", "Momentum with use_nesterov", lambda: tf1.train.MomentumOptimizer(0.05, 0.8, use_nesterov=True)),
    ("adam", "Adam (its beta powers are variables updated by Mul/Assign)", lambda: tf1.train.AdamOptimizer(0.1, 0.8, 0.95, 1e-3)),
    ("adagrad", "Adagrad", lambda: tf1.train.AdagradOptimizer(0.2, initial_accumulator_value=0.5)),
    ("rmsprop", "RMSProp with momentum", lambda: tf1.train.RMSPropOptimizer(0.05, decay=0.8, momentum=0.5, epsilon=1e-3)),
    ("centered_rmsprop", "CenteredRMSProp", lambda: tf1.train.RMSPropOptimizer(0.05, decay=0.8, momentum=0.3, epsilon=1e-2, centered=True)),
    ("adadelta", "Adadelta", lambda: tf1.train.AdadeltaOptimizer(1.0, rho=0.9, epsilon=1e-3)),
    ("ftrl", "Ftrl (V1: no shrinkage)", lambda: tf1.train.FtrlOptimizer(0.3, l1_regularization_strength=0.01, l2_regularization_strength=0.1)),
    ("ftrl_power", "Ftrl with learning_rate_power -0.7 (pow instead of sqrt)", lambda: tf1.train.FtrlOptimizer(0.3, learning_rate_power=-0.7, l1_regularization_strength=0.05)),
    ("ftrl_v2", "FtrlV2 with l2 shrinkage", lambda: tf1.train.FtrlOptimizer(0.3, l1_regularization_strength=0.01, l2_regularization_strength=0.1, l2_shrinkage_regularization_strength=0.2)),
    ("proximal_gradient_descent", "ProximalGradientDescent with l1 and l2", lambda: tf1.train.ProximalGradientDescentOptimizer(0.5, l1_regularization_strength=0.2, l2_regularization_strength=0.1)),
    ("proximal_adagrad", "ProximalAdagrad with l1 and l2", lambda: tf1.train.ProximalAdagradOptimizer(0.5, l1_regularization_strength=0.2, l2_regularization_strength=0.1)),
]


def optimizer_cases(resource):
    kind = "resource" if resource else "ref"
    for short, op, make in OPTIMIZERS:
        optimizer_case(f"train_{short}_{kind}", f"{op} on {kind} variables: three steps of tf1.train optimizer updates, variables and slots fetched after each", make, resource)


def raw_dense_cases():
    """Attributes the tf1 optimizers never set, through the raw ops on ref variables."""
    shape = (4,)
    with Case("train_apply_adam_nesterov", "ApplyAdam with use_nesterov, float64, outputs its ref") as c:
        w, m, v = var([0.5, -1, 2, 0], "w", dtype=np.float64), var([0.0] * 4, "m", dtype=np.float64), var([0.0] * 4, "v", dtype=np.float64)
        g = tf1.placeholder(tf.float64, shape, name="g")
        out = R.ApplyAdam(var=ref(w), m=ref(m), v=ref(v), beta1_power=np.float64(0.9), beta2_power=np.float64(0.999), lr=np.float64(0.01), beta1=np.float64(0.9), beta2=np.float64(0.999), epsilon=np.float64(1e-8), grad=g, use_nesterov=True, use_locking=True, name="adam")
        three_steps(c, out, [w, m, v], [{g: x} for x in grads(shape, dtype=np.float64)], fetch_train=True)
    with Case("train_apply_adagrad_no_update_slots", "ApplyAdagrad with update_slots=false leaves accum alone") as c:
        w, a = var([0.5, -1, 2, 0], "w"), var([1.0, 2, 3, 4], "accum")
        g = tf1.placeholder(tf.float32, shape, name="g")
        out = R.ApplyAdagrad(var=ref(w), accum=ref(a), lr=F32(0.1), grad=g, update_slots=False, name="adagrad")
        three_steps(c, out, [w, a], [{g: x} for x in grads(shape)])
    with Case("train_apply_adagrad_v2", "ApplyAdagradV2 (epsilon added to sqrt(accum))") as c:
        w, a = var([0.5, -1, 2, 0], "w"), var([0.1] * 4, "accum")
        g = tf1.placeholder(tf.float32, shape, name="g")
        out = R.ApplyAdagradV2(var=ref(w), accum=ref(a), lr=F32(0.1), epsilon=F32(0.5), grad=g, name="adagrad")
        three_steps(c, out, [w, a], [{g: x} for x in grads(shape)])
    with Case("train_apply_ftrl_multiply_linear_by_lr", "ApplyFtrlV2 with multiply_linear_by_lr") as c:
        w, a, l = var([0.5, -1, 2, 0], "w"), var([0.1] * 4, "accum"), var([0.0] * 4, "linear")
        g = tf1.placeholder(tf.float32, shape, name="g")
        out = R.ApplyFtrlV2(var=ref(w), accum=ref(a), linear=ref(l), grad=g, lr=F32(0.3), l1=F32(0.05), l2=F32(0.1), l2_shrinkage=F32(0.1), lr_power=F32(-0.5), multiply_linear_by_lr=True, name="ftrl")
        three_steps(c, out, [w, a, l], [{g: x} for x in grads(shape)])
    with Case("train_apply_gradient_descent_half", "ApplyGradientDescent on float16", rtol=1e-3, atol=1e-3) as c:
        # float16 keeps 11 significant bits; TensorFlow's Eigen rounds each operation the same way,
        # but the tolerance allows one unit in the last place.
        w = var([0.5, -1, 2, 0], "w", dtype=np.float16)
        g = tf1.placeholder(tf.float16, shape, name="g")
        out = R.ApplyGradientDescent(var=ref(w), alpha=np.float16(0.25), delta=g, name="sgd")
        three_steps(c, out, [w], [{g: x} for x in grads(shape, dtype=np.float16)])
    with Case("train_apply_errors", "Apply ops refuse a gradient of another shape, a non-scalar rate and an uninitialized variable") as c:
        w, a = var([[1.0, 2], [3, 4]], "w"), var([[1.0, 1], [1, 1]], "accum")
        g = tf1.placeholder(tf.float32, None, name="g")
        lr = tf1.placeholder(tf.float32, None, name="lr")
        out = R.ApplyAdagrad(var=ref(w), accum=ref(a), lr=lr, grad=g, name="adagrad")
        u = var([1.0, 2], "never_initialized")
        sgd = R.ApplyGradientDescent(var=ref(u), alpha=F32(0.1), delta=[F32(1), F32(1)], name="sgd")
        init = tf1.variables_initializer([w, a])
        c.session([
            c.step(targets=[init]),
            c.step(targets=[out.op], feeds={g: np.ones((2, 3), F32), lr: F32(0.1)}),
            c.step(targets=[out.op], feeds={g: np.ones((2, 2), F32), lr: np.ones(2, F32)}),
            c.step(targets=[sgd.op]),
            c.step(fetches=[out], feeds={g: np.ones((2, 2), F32), lr: F32(0.1)}),
        ])


SPARSE = [
    # (case, op after SparseApply, slots, hyperparameters)
    ("momentum", "Momentum", ["accum"], dict(lr=0.1, momentum=0.9)),
    ("momentum_nesterov", "Momentum", ["accum"], dict(lr=0.1, momentum=0.9, use_nesterov=True)),
    ("adagrad", "Adagrad", ["accum"], dict(lr=0.3)),
    ("adagrad_v2", "AdagradV2", ["accum"], dict(lr=0.3, epsilon=0.1)),
    ("rmsprop", "RMSProp", ["ms", "mom"], dict(lr=0.05, rho=0.8, momentum=0.5, epsilon=1e-3)),
    ("centered_rmsprop", "CenteredRMSProp", ["mg", "ms", "mom"], dict(lr=0.05, rho=0.8, momentum=0.5, epsilon=1e-2)),
    ("adadelta", "Adadelta", ["accum", "accum_update"], dict(lr=1.0, rho=0.9, epsilon=1e-3)),
    ("ftrl", "Ftrl", ["accum", "linear"], dict(lr=0.3, l1=0.01, l2=0.1, lr_power=-0.5)),
    ("ftrl_v2", "FtrlV2", ["accum", "linear"], dict(lr=0.3, l1=0.01, l2=0.1, l2_shrinkage=0.2, lr_power=-0.6)),
    ("proximal_gradient_descent", "ProximalGradientDescent", [], dict(alpha=0.5, l1=0.2, l2=0.1)),
    ("proximal_adagrad", "ProximalAdagrad", ["accum"], dict(lr=0.5, l1=0.2, l2=0.1)),
]
RESOURCE_ONLY_SPARSE = [("keras_momentum", "KerasMomentum", ["accum"], dict(lr=0.1, momentum=0.9, use_nesterov=True))]


def sparse_cases(resource):
    """Embedding-style updates: rows of a [5, 2] table, with a repeated index (applied in order)."""
    kind = "resource" if resource else "ref"
    prefix = "ResourceSparseApply" if resource else "SparseApply"
    rows = [np.array([0, 3], np.int32), np.array([4, 4, 1], np.int32), np.array([], np.int32)]
    for short, op, slot_names, hyper in SPARSE + (RESOURCE_ONLY_SPARSE if resource else []):
        with Case(f"train_sparse_apply_{short}_{kind}", f"{prefix}{op}: rows [0, 3], then [4, 4, 1] (a repeated row updates twice), then none") as c:
            table = var(np.linspace(-1, 1, 10).reshape(5, 2), "table", resource)
            slots = [var(np.full((5, 2), 0.1 * (k + 1)), name, resource) for k, name in enumerate(slot_names)]
            g = tf1.placeholder(tf.float32, [None, 2], name="g")
            i = tf1.placeholder(tf.int32, [None], name="i")
            scalars = {k: (F32(x) if isinstance(x, float) else x) for k, x in hyper.items()}
            train = getattr(R, prefix + op)(var=ref(table), grad=g, indices=i, name="apply", **{n: ref(s) for n, s in zip(slot_names, slots)}, **scalars)
            feeds = [{g: np.random.RandomState(k).uniform(-1, 1, (len(r), 2)).astype(F32), i: r} for k, r in enumerate(rows)]
            three_steps(c, train, [table] + slots, feeds)


def sparse_error_cases():
    with Case("train_sparse_apply_errors", "SparseApply ops refuse an index out of range (negative too), indices of rank 2, a gradient with other rows, and FTRL's negative rates") as c:
        table, accum, linear = var(np.ones((3, 2)), "table"), var(np.ones((3, 2)), "accum"), var(np.zeros((3, 2)), "linear")
        g = tf1.placeholder(tf.float32, None, name="g")
        i = tf1.placeholder(tf.int32, None, name="i")
        lr = tf1.placeholder(tf.float32, [], name="lr")
        adagrad = R.SparseApplyAdagrad(var=ref(table), accum=ref(accum), lr=F32(0.1), grad=g, indices=i, name="adagrad")
        ftrl = R.SparseApplyFtrl(var=ref(table), accum=ref(accum), linear=ref(linear), grad=g, indices=i, lr=lr, l1=F32(0.0), l2=F32(0.0), lr_power=F32(-0.5), name="ftrl")
        one = np.ones((2, 2), F32)
        c.session([
            c.step(targets=[tf1.global_variables_initializer()]),
            c.step(targets=[adagrad.op], feeds={g: one, i: np.array([0, 3], np.int32)}),
            c.step(targets=[adagrad.op], feeds={g: one, i: np.array([-1, 0], np.int32)}),
            c.step(targets=[adagrad.op], feeds={g: np.ones((1, 1, 2), F32), i: np.array([[0]], np.int32)}),
            c.step(targets=[adagrad.op], feeds={g: np.ones((3, 2), F32), i: np.array([0, 1], np.int32)}),
            c.step(targets=[adagrad.op], feeds={g: np.ones((2, 3), F32), i: np.array([0, 1], np.int32)}),
            c.step(targets=[ftrl.op], feeds={g: one, i: np.array([0, 1], np.int32), lr: F32(-0.1)}),
            c.step(fetches=[table.value(), accum.value()]),
        ])


def scatter_cases(resource):
    kind = "resource" if resource else "ref"
    ops = [("update", tf1.scatter_update), ("add", tf1.scatter_add), ("sub", tf1.scatter_sub), ("mul", tf1.scatter_mul), ("div", tf1.scatter_div), ("min", tf1.scatter_min), ("max", tf1.scatter_max)]
    for short, fn in ops:
        with Case(f"train_scatter_{short}_{kind}", f"Scatter{short.capitalize()} on a {kind} variable: repeated rows, 2-D indices, scalar updates, int32, and out-of-range indices") as c:
            # A NaN update leaves min and max alone; elsewhere NaN would only propagate.
            special = np.nan if short in ("min", "max") else 7.0
            table = var(np.arange(1, 9).reshape(4, 2), "table", resource)
            counts = var([10, 20, 30], "counts", resource, np.int32)
            u = tf1.placeholder(tf.float32, None, name="u")
            i = tf1.placeholder(tf.int32, None, name="i")
            op = fn(table, i, u, name="scatter")
            ints = fn(counts, tf.constant([[2, 0], [2, 2]]), tf.constant([[3, 4], [5, 2]]), name="scatter_int")
            scalar = fn(table, tf.constant([3, 1], tf.int64), F32(2.0), name="scatter_scalar")
            read = [table.value()]
            c.session([
                c.step(targets=[tf1.global_variables_initializer()]),
                c.step(targets=[op.op], feeds={i: np.array([1, 3, 1], np.int32), u: np.array([[2, -1], [0.5, 4], [3, 3]], F32)}),
                c.step(fetches=read),
                c.step(targets=[op.op], feeds={i: np.array([[0], [2]], np.int32), u: np.array([[[special, 1]], [[-2, 8]]], F32)}),
                c.step(fetches=read),
                c.step(targets=[scalar.op]),
                c.step(fetches=read),
                c.step(targets=[ints.op]),
                c.step(fetches=[counts.value()]),
                c.step(targets=[op.op], feeds={i: np.array([0, 4], np.int32), u: np.ones((2, 2), F32)}),
                c.step(targets=[op.op], feeds={i: np.array([-1], np.int32), u: np.ones((1, 2), F32)}),
            ] + ([] if resource else [
                # TensorFlow's resource scatters check only the rank of updates and then read
                # past a row of the wrong width; Weft refuses it like the ref form, so the case
                # is recorded for ref variables only.
                c.step(targets=[op.op], feeds={i: np.array([0], np.int32), u: np.ones((1, 3), F32)}),
            ]) + [
                c.step(targets=[op.op], feeds={i: np.array([], np.int32), u: np.ones((0, 2), F32)}),
                c.step(fetches=read),
            ])


def scatter_extra_cases():
    with Case("train_scatter_update_bool", "ScatterUpdate on a bool variable; the op's ref output is fetched") as c:
        flags = var([True, False, True], "flags", dtype=bool)
        out = tf1.scatter_update(flags, [2, 1], [False, True], name="scatter")
        c.session([c.step(targets=[tf1.global_variables_initializer()]), c.step(fetches=[out])])
    with Case("train_scatter_update_string", "ScatterUpdate on string variables, ref and resource, with a repeated row (the last update wins) and a scalar update") as c:
        words = var([b"a", b"bb", b"ccc"], "words", dtype=object)
        names = tf1.Variable(tf.constant([["x", "y"], ["z", "w"]]), name="names", use_resource=True)
        out = tf1.scatter_update(words, [2, 0, 2], tf.constant(["two", "zero", "again"]), name="scatter")
        scalar = R.ResourceScatterUpdate(resource=names.handle, indices=[1], updates=tf.constant("s"), name="scatter_scalar")
        c.session([
            c.step(targets=[tf1.global_variables_initializer()]),
            c.step(fetches=[out]),
            c.step(targets=[scalar]),
            c.step(fetches=[names.value()]),
        ])
    with Case("train_scatter_add_uninitialized", "ScatterAdd on a variable never initialized fails with FailedPrecondition") as c:
        table = var([1.0, 2], "table")
        out = tf1.scatter_add(table, [0], [1.0], name="scatter")
        c.session([c.step(targets=[out.op])])


def resource_variable_cases():
    with Case("train_resource_variable_ops", "VarHandleOp, AssignVariableOp, ReadVariableOp, AssignAdd/SubVariableOp, VarIsInitializedOp and DestroyResourceOp; reads of a missing variable fail, a second session starts empty") as c:
        h = R.VarHandleOp(dtype=tf.float32, shape=[2], shared_name="v", name="v")
        unnamed = R.VarHandleOp(dtype=tf.int32, shape=[], name="counter")
        x = tf1.placeholder(tf.float32, None, name="x")
        assign = R.AssignVariableOp(resource=h, value=x, name="assign")
        add = R.AssignAddVariableOp(resource=h, value=x, name="add")
        sub = R.AssignSubVariableOp(resource=h, value=x, name="sub")
        read = tf.identity(R.ReadVariableOp(resource=h, dtype=tf.float32, name="read_op"), name="read")
        init_counter = R.AssignVariableOp(resource=unnamed, value=np.int32(7), name="init_counter")
        bump = R.AssignAddVariableOp(resource=unnamed, value=np.int32(-2), name="bump")
        counter = R.ReadVariableOp(resource=unnamed, dtype=tf.int32, name="read_counter")
        is_init = R.VarIsInitializedOp(resource=h, name="is_init")
        destroy = R.DestroyResourceOp(resource=h, name="destroy")
        destroy_strict = R.DestroyResourceOp(resource=h, ignore_lookup_error=False, name="destroy_strict")
        # A second handle to `v` lives with it (in a cluster, each worker has its own variables).
        with tf1.colocate_with(h.op):
            as_int = R.VarHandleOp(dtype=tf.int32, shape=[2], shared_name="v", name="v_as_int")
        assign_int = R.AssignVariableOp(resource=as_int, value=np.array([1, 2], np.int32), name="assign_int")
        steps = [
            c.step(fetches=[is_init]),
            c.step(fetches=[read]),
            c.step(targets=[add], feeds={x: np.ones(2, F32)}),
            c.step(targets=[assign], feeds={x: np.array([1.5, -2], F32)}),
            c.step(fetches=[read, is_init]),
            c.step(targets=[add], feeds={x: np.array([0.25, 4], F32)}),
            c.step(fetches=[read]),
            c.step(targets=[sub], feeds={x: np.array([1, 1], F32)}),
            c.step(fetches=[read]),
            c.step(targets=[add], feeds={x: np.ones(3, F32)}),
            c.step(targets=[assign_int]),
            c.step(targets=[assign], feeds={x: np.arange(6, dtype=F32).reshape(2, 3)}),
            c.step(fetches=[read]),
            c.step(targets=[init_counter]),
            c.step(targets=[bump]),
            c.step(fetches=[counter]),
            c.step(targets=[destroy]),
            c.step(fetches=[is_init]),
            c.step(targets=[destroy]),
            c.step(targets=[destroy_strict]),
            c.step(fetches=[counter]),
        ]
        c.session(steps)
        c.session(steps[:2])
    with Case("train_resource_gather", "ResourceGather: 2-D indices, a repeated row, int64 indices, batch_dims=1, and an index out of range") as c:
        table = var(np.arange(12).reshape(3, 4), "table", True)
        batched = var(np.arange(12).reshape(2, 3, 2), "batched", True, np.int32)
        i = tf1.placeholder(tf.int32, None, name="i")
        rows = R.ResourceGather(resource=table.handle, indices=i, dtype=tf.float32, name="rows")
        rows64 = R.ResourceGather(resource=table.handle, indices=np.array([2, 2, 0], np.int64), dtype=tf.float32, name="rows64")
        per_batch = R.ResourceGather(resource=batched.handle, indices=np.array([[2, 0], [1, 1]], np.int32), batch_dims=1, dtype=tf.int32, name="per_batch")
        c.session([
            c.step(targets=[tf1.global_variables_initializer()]),
            c.step(fetches=[rows], feeds={i: np.array([[1, 0], [2, 1]], np.int32)}),
            c.step(fetches=[rows], feeds={i: np.array([], np.int32)}),
            c.step(fetches=[rows64, per_batch]),
            c.step(fetches=[rows], feeds={i: np.array([[1, 0], [3, 1]], np.int32)}),
            c.step(fetches=[rows], feeds={i: np.array([-1], np.int32)}),
        ])
    with Case("train_resource_apply_keras_momentum", "ResourceApplyKerasMomentum, plain and Nesterov, and ResourceApplyAdagradV2 (resource-only or raw-only forms)") as c:
        shape = (3,)
        ws = [var([0.5, -1, 2], f"w{k}", True) for k in range(3)]
        accums = [var([0.1, 0.2, 0.3], f"accum{k}", True) for k in range(3)]
        g = tf1.placeholder(tf.float32, shape, name="g")
        plain = R.ResourceApplyKerasMomentum(var=ws[0].handle, accum=accums[0].handle, lr=F32(0.1), grad=g, momentum=F32(0.9), name="plain")
        nesterov = R.ResourceApplyKerasMomentum(var=ws[1].handle, accum=accums[1].handle, lr=F32(0.1), grad=g, momentum=F32(0.9), use_nesterov=True, name="nesterov")
        adagrad = R.ResourceApplyAdagradV2(var=ws[2].handle, accum=accums[2].handle, lr=F32(0.1), epsilon=F32(0.5), grad=g, update_slots=False, name="adagrad")
        three_steps(c, tf.group(plain, nesterov, adagrad, name="train"), ws + accums, [{g: x} for x in grads(shape)])
    with Case("train_resource_uninitialized", "Resource optimizers and scatters on a variable never created fail (NotFound); reading it fails with FailedPrecondition") as c:
        w = var([1.0, 2], "w", True)
        g = tf.constant([1.0, 1.0])
        sgd = R.ResourceApplyGradientDescent(var=w.handle, alpha=F32(0.1), delta=g, name="sgd")
        scatter = R.ResourceScatterAdd(resource=w.handle, indices=[0], updates=[1.0], name="scatter")
        c.session([
            c.step(fetches=[w.value()]),
            c.step(targets=[sgd]),
            c.step(targets=[scatter]),
            c.step(targets=[w.initializer]),
            c.step(targets=[sgd, scatter]),
            c.step(fetches=[w.value()]),
        ])


def cases():
    optimizer_cases(resource=False)
    optimizer_cases(resource=True)
    raw_dense_cases()
    sparse_cases(resource=False)
    sparse_cases(resource=True)
    sparse_error_cases()
    scatter_cases(resource=False)
    scatter_cases(resource=True)
    scatter_extra_cases()
    resource_variable_cases()
