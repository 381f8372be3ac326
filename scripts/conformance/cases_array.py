"""Array ops: gathers and scatters, slicing, padding, selection, ordering, scans and the shape
ops that gradients use. Inputs are placeholders of unknown shape, so that TensorFlow decides at
run time (like Weft) and its refusals are recorded as errors rather than raised while building."""
import numpy as np
import tensorflow as tf

from lib import Case, tf1

r = tf.raw_ops


def f32(*shape, start=0):
    return np.arange(start, start + int(np.prod(shape)), dtype=np.float32).reshape(shape)


def i32(values):
    return np.array(values, dtype=np.int32)


def i64(values):
    return np.array(values, dtype=np.int64)


def run(name, note, build, *steps, known=(), **kw):
    """A case whose graph is `build(*placeholders)` over placeholders named a, b, c, … (one
    per value of the first step, with its dtype and unknown shape, or its shape for the
    positions in `known`, where TensorFlow's graph building needs it); each step feeds its
    values. `build` returns a tensor or a list of tensors to fetch."""
    with Case(name, note, **kw) as c:
        first = steps[0]
        holders = [
            tf1.placeholder(tf.as_dtype(np.asarray(v).dtype), shape=np.shape(v) if i in known else None,
                            name="abcdefghij"[i])
            for i, v in enumerate(first)
        ]
        out = build(*holders)
        fetches = list(out) if isinstance(out, (list, tuple)) else [out]
        c.session([c.step(fetches=fetches, feeds=dict(zip(holders, values))) for values in steps])


def gather_cases():
    params = f32(3, 4)
    run("array_gather_v2_axis0", "GatherV2 rows, repeated and 2-D indices",
        lambda p, i, a: r.GatherV2(params=p, indices=i, axis=a, name="y"),
        (params, i32([[2, 0], [2, 1]]), i32(0)))
    run("array_gather_v2_axis1_int64", "GatherV2 along a negative axis with int64 indices, int32 params",
        lambda p, i, a: r.GatherV2(params=p, indices=i, axis=a, name="y"),
        (np.arange(24, dtype=np.int32).reshape(2, 3, 4), i64([3, 0, 3]), i64(-1)),
        (np.arange(24, dtype=np.int32).reshape(2, 3, 4), i64([]), i64(1)))
    run("array_gather_v2_scalar_index", "GatherV2 with a scalar index drops the axis; bool and float16",
        lambda p, i, a, q: [r.GatherV2(params=p, indices=i, axis=a, name="y"),
                            r.GatherV2(params=q, indices=i, axis=a, name="z")],
        (np.array([[True, False], [False, False]]), i32(1), i32(1), np.array([1.5, -2, 3], dtype=np.float16)[None]))
    run("array_gather_v2_batch_dims", "GatherV2 with batch_dims=1",
        lambda p, i, a: r.GatherV2(params=p, indices=i, axis=a, batch_dims=1, name="y"),
        (f32(2, 3, 2), i32([[2, 0], [1, 1]]), i32(1)))
    run("array_gather_v2_bad_index", "GatherV2 refuses a negative or too-large index",
        lambda p, i, a: r.GatherV2(params=p, indices=i, axis=a, name="y"),
        (params, i32([0, -1]), i32(0)), (params, i32([[0, 5]]), i32(1)), (params, i32([0]), i32(2)))
    run("array_gather_v1", "Gather (version 1), double params",
        lambda p, i: r.Gather(params=p, indices=i, name="y"),
        (np.linspace(0, 1, 6).reshape(3, 2), i64([2, 2, 0])), (np.linspace(0, 1, 6).reshape(3, 2), i64([3])))

    run("array_gather_nd", "GatherNd of elements and of rows",
        lambda p, i, j: [r.GatherNd(params=p, indices=i, name="y"), r.GatherNd(params=p, indices=j, name="z")],
        (f32(2, 3, 2), i32([[0, 1, 1], [1, 2, 0]]), i64([[[1], [0]]])))
    run("array_gather_nd_bad_index", "GatherNd refuses an index outside params",
        lambda p, i: r.GatherNd(params=p, indices=i, name="y"),
        (np.array([[1, 2], [3, 4]], dtype=np.int64), i32([[0, 0], [2, 0]])))
    run("array_gather_nd_ignore_bad_indices", "GatherNd and ScatterNd with bad_indices_policy IGNORE",
        lambda p, i, u: [r.GatherNd(params=p, indices=i, bad_indices_policy="IGNORE", name="y"),
                         r.ScatterNd(indices=i, updates=u, shape=[2, 2], bad_indices_policy="IGNORE", name="z")],
        (f32(2, 2), i32([[0, 1], [2, 0], [1, 1]]), np.array([5, 6, 7], np.float32)))
    run("array_scatter_nd", "ScatterNd adds duplicate indices; rows and elements",
        lambda i, u, s, j, v: [r.ScatterNd(indices=i, updates=u, shape=s, name="y"),
                               r.ScatterNd(indices=j, updates=v, shape=s, name="z")],
        (i32([[1], [3], [1]]), f32(3, 2), i32([4, 2]), i32([[0, 1], [3, 0], [0, 1]]), np.array([1, 2, 4], dtype=np.float32)))
    run("array_scatter_nd_int_and_errors", "ScatterNd on int64; an out-of-range index and a bad updates shape fail",
        lambda i, u, s: r.ScatterNd(indices=i, updates=u, shape=s, name="y"),
        (i64([[2], [0]]), i64([5, 7]), i64([3])),
        (i64([[3], [0]]), i64([5, 7]), i64([3])),
        (i64([[1], [0]]), i64([5, 7, 8]), i64([3])))

    run("array_unsorted_segment_sum", "UnsortedSegmentSum: rows, a dropped negative id, an empty segment",
        lambda d, s, n: r.UnsortedSegmentSum(data=d, segment_ids=s, num_segments=n, name="y"),
        (f32(4, 2), i32([0, 2, -1, 0]), i32(4)),
        (f32(4, 2), i32([[0, 1], [1, 0]]), i32(2)),
        (f32(4, 2), i32([0, 5, 1, 0]), i32(3)))
    run("array_unsorted_segment_sum_int", "UnsortedSegmentSum of int32 with int64 ids",
        lambda d, s, n: r.UnsortedSegmentSum(data=d, segment_ids=s, num_segments=n, name="y"),
        (np.array([1, 2, 3, 4, 5], dtype=np.int32), i64([1, 1, 0, 2, 1]), i64(3)))
    run("array_dynamic_stitch", "DynamicStitch: later inputs win on a repeated index; rows of 2",
        lambda i0, i1, d0, d1: r.DynamicStitch(indices=[i0, i1], data=[d0, d1], name="y"),
        (i32([0, 2]), i32([[1, 2], [3, 4]]), f32(2, 2), f32(2, 2, 2, start=10)),
        (i32([0, 2]), i32([[1]]), f32(2, 2), f32(2, 2)))


def slice_cases():
    x = f32(3, 4, 2)
    run("array_slice", "Slice with -1 sizes and an empty size, int64 begin/size",
        lambda t, b, s: r.Slice(input=t, begin=b, size=s, name="y"),
        (x, i64([1, 1, 0]), i64([2, -1, 1])), (x, i64([0, 4, 0]), i64([3, 0, 2])),
        (x, i64([2, 1, 0]), i64([2, 1, 1])), (x, i64([0, 0]), i64([1, 1])))
    run("array_slice_uint8", "Slice of a uint8 tensor",
        lambda t, b, s: r.Slice(input=t, begin=b, size=s, name="y"),
        (np.arange(12, dtype=np.uint8).reshape(3, 4), i32([1, 1]), i32([2, 3])))

    def ss(name, note, begin, end, strides, value=x, **masks):
        run(name, note,
            lambda t, b, e, s: r.StridedSlice(input=t, begin=b, end=e, strides=s, name="y", **masks),
            (value, i32(begin), i32(end), i32(strides)))
    ss("array_strided_slice_basic", "StridedSlice x[1:3, ::2] with implied trailing dims", [1, 0], [3, 4], [1, 2])
    ss("array_strided_slice_negative", "StridedSlice x[::-1, -1:0:-2] with begin/end masks", [0, -1], [0, 0], [-1, -2],
       begin_mask=1, end_mask=1)
    ss("array_strided_slice_shrink", "StridedSlice x[-1, :, 1] (shrink axes)", [-1, 0, 1], [0, 0, 2], [1, 1, 1],
       begin_mask=2, end_mask=2, shrink_axis_mask=5)
    ss("array_strided_slice_ellipsis_newaxis", "StridedSlice x[..., None, 0] and x[None, ..., 1:]", [0, 0, 0], [0, 0, 1],
       [1, 1, 1], ellipsis_mask=1, new_axis_mask=2, shrink_axis_mask=4)
    ss("array_strided_slice_newaxis_first", "StridedSlice x[None, 1:, ...]", [0, 1, 0], [0, 3, 0], [1, 1, 1],
       ellipsis_mask=4, new_axis_mask=1)
    ss("array_strided_slice_clamped", "StridedSlice clamps out-of-range begin/end; an empty result", [-10, 5], [10, 1],
       [1, 1])
    ss("array_strided_slice_bad_shrink", "StridedSlice refuses a shrink index out of range", [5], [6], [1],
       shrink_axis_mask=1)
    ss("array_strided_slice_zero_stride", "StridedSlice refuses a zero stride", [0], [1], [0])
    ss("array_strided_slice_int64_vector", "StridedSlice of an int64 vector x[5:1:-1]", [5], [1], [-1],
       value=np.arange(8, dtype=np.int64))
    run("array_strided_slice_grad", "StridedSliceGrad of x[1:, ::-2, None, 0]",
        lambda s, b, e, st, dy: r.StridedSliceGrad(shape=s, begin=b, end=e, strides=st, dy=dy, begin_mask=2, end_mask=2,
                                                   new_axis_mask=4, shrink_axis_mask=8, name="y"),
        (i32([3, 4, 2]), i32([1, 0, 0, 0]), i32([3, 0, 0, 1]), i32([1, -2, 1, 1]), f32(2, 2, 1)),
        (i32([3, 4, 2]), i32([1, 0, 0, 0]), i32([3, 0, 0, 1]), i32([1, -2, 1, 1]), f32(2, 3, 1)))

    run("array_unpack", "Unpack along axis 1 and along a negative axis",
        lambda t: list(r.Unpack(value=t, num=4, axis=1, name="y")) + list(r.Unpack(value=t, num=2, axis=-1, name="z")),
        (x,), (f32(3, 5, 2),))
    run("array_split", "Split into 2 along axis -1; an uneven split fails",
        lambda a, t: list(r.Split(axis=a, value=t, num_split=2, name="y")),
        (i32(-1), f32(2, 4)), (i32(0), np.arange(6, dtype=np.int8).reshape(3, 2)))
    run("array_split_v", "SplitV with a -1 size, int64 sizes; sizes that do not add up fail",
        lambda t, s, a: list(r.SplitV(value=t, size_splits=s, axis=a, num_split=3, name="y")),
        (f32(2, 6), i64([1, -1, 2]), i32(1)), (f32(2, 6), i64([1, 0, 2]), i32(1)), (f32(6, 1), i64([1, 4, 1]), i32(0)))
    run("array_reverse_v1", "Reverse (the first version, a bool per dimension); a wrong count fails",
        lambda t, d: r.Reverse(tensor=t, dims=d, name="y"),
        (x, np.array([True, False, True])), (x, np.array([True])))
    run("array_roll", "Roll over two axes, with shifts adding up on one axis and a negative axis; a bad axis fails",
        lambda t, s, a: r.Roll(input=t, shift=s, axis=a, name="y"),
        (x, i32([1, -5, 2]), i32([1, 1, -1])), (x, i64([7]), i64([0])), (x, i32([1]), i32([3])))
    run("array_reverse_v2", "ReverseV2 over two axes, none, and a repeated axis",
        lambda t, a: r.ReverseV2(tensor=t, axis=a, name="y"),
        (x, i32([0, -1])), (x, i32([])), (x, i32([1, -2])))


def pad_cases():
    x = f32(2, 3)
    run("array_pad", "Pad with zeros; int32 paddings and negative paddings",
        lambda t, p: r.Pad(input=t, paddings=p, name="y"),
        (x, i32([[1, 0], [2, 1]])), (x, i32([[0, 0], [0, 0]])), (x, i32([[0, -1], [0, 0]])), (x, i32([[1, 1]])))
    run("array_pad_v2", "PadV2 with a constant, int64 input",
        lambda t, p, c: r.PadV2(input=t, paddings=p, constant_values=c, name="y"),
        (np.arange(3, dtype=np.int64), i64([[2, 1]]), np.int64(-7)))
    for mode in ("REFLECT", "SYMMETRIC"):
        run(f"array_mirror_pad_{mode.lower()}", f"MirrorPad {mode}; paddings too large fail",
            lambda t, p, mode=mode: r.MirrorPad(input=t, paddings=p, mode=mode, name="y"),
            (x, i32([[1, 1], [2, 2]])), (x, i32([[0, 1], [0, 2]])), (x, i32([[2, 0], [0, 0]])), (x, i32([[0, 3], [0, 0]])))
    run("array_broadcast_to", "BroadcastTo a larger rank; an incompatible shape fails",
        lambda t, s: r.BroadcastTo(input=t, shape=s, name="y"),
        (np.array([[1], [2]], dtype=np.int32), i32([3, 2, 4])), (np.array([[1], [2]], dtype=np.int32), i32([2, 1])),
        (np.array([[1], [2]], dtype=np.int32), i32([3, 3])))
    run("array_tile", "Tile, including a zero multiple; negative multiples fail",
        lambda t, m: r.Tile(input=t, multiples=m, name="y"),
        (x, i32([2, 1])), (x, i32([1, 0])), (x, i32([-1, 1])))


def select_cases():
    run("array_where", "Where on bool and on float (NaN counts as true, -0.0 as false)",
        lambda c, f: [r.Where(condition=c, name="y"), r.Where(condition=f, name="z")],
        (np.array([[True, False], [False, True], [True, True]]), np.array([0.0, -0.0, np.nan, 2.0], dtype=np.float32)),
        (np.zeros((0, 3), dtype=bool), np.array(1.0, dtype=np.float32)))
    run("array_select", "Select elementwise, by rows, and with a scalar condition; mismatched shapes fail",
        lambda c, t, e: r.Select(condition=c, x=t, y=e, name="y"),
        (np.array([[True, False], [False, True]]), f32(2, 2), f32(2, 2, start=10)),
        (np.array([True, False]), f32(2, 3), f32(2, 3, start=10)),
        (np.array(False), f32(2, 3), f32(2, 3, start=10)),
        (np.array([True, False, True]), f32(2, 3), f32(2, 3, start=10)))
    run("array_select_v2", "SelectV2 broadcasts condition, then and else; incompatible shapes fail",
        lambda c, t, e: r.SelectV2(condition=c, t=t, e=e, name="y"),
        (np.array([True, False, True]), np.array([[1], [2]], dtype=np.int32), np.int32(-1)),
        (np.array([[True], [False]]), np.array([1, 2], dtype=np.int32), np.array([[5, 6], [7, 8]], dtype=np.int32)),
        (np.array([True, False]), np.array([1, 2, 3], dtype=np.int32), np.int32(0)))
    run("array_one_hot", "OneHot last axis and axis 0, out-of-range indices are all off",
        lambda i, d, on, off: [r.OneHot(indices=i, depth=d, on_value=on, off_value=off, name="y"),
                               r.OneHot(indices=i, depth=d, on_value=on, off_value=off, axis=0, name="z")],
        (i64([[0, 2], [-1, 5]]), i32(3), np.float32(5), np.float32(-1)),
        (i64([[0, 2], [-1, 5]]), i32(-1), np.float32(5), np.float32(-1)))
    run("array_one_hot_uint8", "OneHot with uint8 indices and int32 values",
        lambda i, d, on, off: r.OneHot(indices=i, depth=d, on_value=on, off_value=off, name="y"),
        (np.array([0, 3, 1], dtype=np.uint8), i32(4), np.int32(1), np.int32(0)))


def sort_cases():
    run("array_top_k", "TopKV2 sorted: ties go to the lower index",
        lambda t, k: list(r.TopKV2(input=t, k=k, sorted=True, name="y")),
        (np.array([[1, 3, 3, 2, 3], [5, 4, 5, 0, -1]], dtype=np.float32), i32(3)),
        (np.array([[1, 3, 3, 2, 3], [5, 4, 5, 0, -1]], dtype=np.float32), i32(0)),
        (np.array([[1, 3, 3, 2, 3], [5, 4, 5, 0, -1]], dtype=np.float32), i32(6)))
    run("array_top_k_long_row", "TopKV2 on int32 rows of 40 with k=2 (the small-k path) and int64 indices",
        lambda t, k: list(r.TopKV2(input=t, k=k, index_type=tf.int64, name="y")),
        (np.array([[(i * 7) % 13 for i in range(40)], [(i * 5) % 11 for i in range(40)]], dtype=np.int32), i32(2)))
    run("array_in_top_k", "InTopKV2: ties count as in, out-of-range targets and non-finite rows are not",
        lambda p, t, k: r.InTopKV2(predictions=p, targets=t, k=k, name="y"),
        (np.array([[1, 2, 2], [3, 1, 0], [1, np.inf, 0], [0, 0, 1]], dtype=np.float32), i32([1, 2, 0, 5]), i32(1)),
        (np.array([[1, 2, 2], [3, 1, 0], [1, np.inf, 0], [0, 0, 1]], dtype=np.float32), i32([1, 2, 0, 5]), i32(2)))
    run("array_in_top_k_v1", "InTopK (k as an attribute) with int64 targets",
        lambda p, t: r.InTopK(predictions=p, targets=t, k=2, name="y"),
        (np.array([[1, 2, 2], [3, 1, 0]], dtype=np.float32), i64([0, 1])))
    run("array_unique", "Unique keeps first-appearance order; int64 out_idx; -0.0 equals 0.0",
        lambda x, f: list(r.Unique(x=x, out_idx=tf.int64, name="y")) + list(r.Unique(x=f, name="z")),
        (i32([4, 1, 4, 4, 2, 1]), np.array([0.0, -0.0, 1.5, 1.5], dtype=np.float32)),
        (i32([]), np.array([3.0], dtype=np.float32)),
        (i32([[1]]), np.array([3.0], dtype=np.float32)))
    for name, op in (("cumsum", r.Cumsum), ("cumprod", r.Cumprod)):
        run(f"array_{name}", f"{op.__name__} with every exclusive/reverse combination along axis 1",
            lambda x, a, op=op: [op(x=x, axis=a, exclusive=e, reverse=v, name=f"y_{int(e)}{int(v)}")
                                 for e in (False, True) for v in (False, True)],
            (f32(2, 3, 2, start=1), i32(1)), (np.arange(1, 7, dtype=np.int64).reshape(2, 3), i32(-1)),
            (f32(2, 3), i32(2)))


def shape_cases():
    run("array_shape_n", "ShapeN with out_type int64",
        lambda x, y: list(r.ShapeN(input=[x, y], out_type=tf.int64, name="y")),
        (f32(2, 3), np.zeros((0, 1, 4), dtype=np.float32)))
    run("array_concat_offset", "ConcatOffset along axis 1; a mismatched shape fails",
        lambda a, s0, s1, s2: list(r.ConcatOffset(concat_dim=a, shape=[s0, s1, s2], name="y")),
        (i32(1), i32([2, 3, 4]), i32([2, 5, 4]), i32([2, 0, 4])),
        (i32(-2), i32([2, 3, 4]), i32([2, 5, 4]), i32([2, 0, 4])),
        (i32(1), i32([2, 3, 4]), i32([3, 5, 4]), i32([2, 0, 4])))
    run("array_broadcast_gradient_args", "BroadcastGradientArgs, size-1 dimensions on both sides",
        lambda x, y: list(r.BroadcastGradientArgs(s0=x, s1=y, name="y")),
        (i32([2, 1, 3]), i32([3])), (i32([1, 1]), i32([1, 1])), (i32([]), i32([1])), (i32([5, 1]), i32([1, 4])),
        (i32([2, 3]), i32([4])))
    run("array_identity_family", "PreventGradient, IdentityN and StopGradient pass values through",
        lambda x, y: [r.PreventGradient(input=x, message="no", name="p"), r.StopGradient(input=x, name="s")]
        + list(r.IdentityN(input=[x, y], name="n")),
        (f32(2), np.array([True])))
    run("array_check_numerics", "CheckNumerics passes finite values; NaN and Inf fail",
        lambda x: r.CheckNumerics(tensor=x, message="bad value", name="y"),
        (np.array([1.0, 2.0], dtype=np.float32),), (np.array([1.0, np.nan], dtype=np.float32),),
        (np.array([np.inf, np.nan], dtype=np.float32),))


def gradient_helper_cases():
    """Ops that TensorFlow's gradient functions emit."""
    for name, op in (("sum", r.UnsortedSegmentSum), ("prod", r.UnsortedSegmentProd), ("max", r.UnsortedSegmentMax),
                     ("min", r.UnsortedSegmentMin)):
        run(f"array_unsorted_segment_{name}_empty_segments",
            f"{op.__name__}: empty segments get the identity (lowest/highest finite value for max/min); int and float",
            lambda d, s, n, e, op=op: [op(data=d, segment_ids=s, num_segments=n, name="y"),
                                       op(data=e, segment_ids=s, num_segments=n, name="z")],
            (np.array([[1, -2], [3, 4], [5, 6]], dtype=np.float32), i32([2, 2, 0]), i32(4),
             np.array([[1, -2], [3, 4], [5, 6]], dtype=np.int32)))
    run("array_unsorted_segment_max_nan", "UnsortedSegmentMax with NaN: a NaN is replaced by any later number",
        lambda d, s, n: r.UnsortedSegmentMax(data=d, segment_ids=s, num_segments=n, name="y"),
        (np.array([1, np.nan, 3, np.nan, 2, np.nan], dtype=np.float32), i32([0, 0, 0, 1, 1, 2]), i32(3)))
    run("array_invert_permutation", "InvertPermutation; an out-of-range or repeated entry fails",
        lambda x: r.InvertPermutation(x=x, name="y"),
        (i32([2, 0, 3, 1]),), (i32([]),), (i32([2, 0, 0]),), (i32([3, 0, 1]),))
    run("array_list_diff", "ListDiff keeps order and repeats of x; int64 out_idx",
        lambda x, y: list(r.ListDiff(x=x, y=y, out_idx=tf.int64, name="y")),
        (i32([1, 2, 3, 2, 5, 1]), i32([2, 7])), (i32([1, 2]), i32([1, 2])))
    run("array_broadcast_args", "BroadcastArgs; incompatible shapes fail",
        lambda x, y: r.BroadcastArgs(s0=x, s1=y, name="y"),
        (i64([2, 1, 3]), i64([4, 1])), (i64([]), i64([0])), (i64([2]), i64([3])))
    run("array_ensure_shape", "EnsureShape with an unknown dimension; a different shape fails",
        lambda x: r.EnsureShape(input=x, shape=[None, 2], name="y"),
        (f32(3, 2),), (f32(2, 3),))
    for mode in ("REFLECT", "SYMMETRIC"):
        run(f"array_mirror_pad_grad_{mode.lower()}", f"MirrorPadGrad {mode} folds padded gradients back",
            lambda g, p, mode=mode: r.MirrorPadGrad(input=g, paddings=p, mode=mode, name="y"),
            (f32(4, 7), i32([[1, 0], [2, 2]])), (np.arange(28, dtype=np.int64).reshape(4, 7), i32([[1, 1], [1, 3]])))


def segment_cases():
    d = f32(4, 2)
    for name in ("Sum", "Prod", "Max", "Min", "Mean"):
        op = getattr(r, f"Segment{name}")
        run(f"array_segment_{name.lower()}", f"Segment{name}: an empty segment is {'1' if name == 'Prod' else '0'}; "
            "unsorted or negative ids fail",
            lambda x, s, op=op: op(data=x, segment_ids=s, name="y"),
            (d, i32([0, 0, 2, 2])), (np.array([1, 2, 4, 7], np.int32), i64([0, 0, 1, 3])), (d, i32([0, 1, 0, 2])),
            (d, i32([-1, 0, 0, 2])), (d, i32([0, 0, 2])))
    for name in ("Sum", "Mean", "SqrtN"):
        op = getattr(r, f"SparseSegment{name}")
        run(f"array_sparse_segment_{name.lower()}", f"SparseSegment{name} picks rows by index; a bad index fails",
            lambda x, i, s, op=op: op(data=x, indices=i, segment_ids=s, name="y"),
            (d, i32([0, 3, 3, 1]), i32([0, 0, 2, 2])), (d, i64([]), i32([])), (d, i32([0, 4]), i32([0, 1])),
            (d, i32([0, 1]), i32([1, 0])))
        op = getattr(r, f"SparseSegment{name}WithNumSegments")
        run(f"array_sparse_segment_{name.lower()}_num_segments", f"SparseSegment{name}WithNumSegments",
            lambda x, i, s, n, op=op: op(data=x, indices=i, segment_ids=s, num_segments=n, name="y"),
            (d, i32([0, 3]), i32([0, 2]), i32(4)), (d, i32([0, 3]), i32([0, 5]), i32(4)))
        op = getattr(r, f"SparseSegment{name}Grad")
        run(f"array_sparse_segment_{name.lower()}_grad", f"SparseSegment{name}Grad scatters segment gradients back",
            lambda g, i, s, n, op=op: op(grad=g, indices=i, segment_ids=s, output_dim0=n, name="y"),
            (f32(3, 2, start=1), i32([0, 3, 3, 1]), i32([0, 0, 2, 2]), i32(5)),
            (f32(3, 2, start=1), i32([0, 7]), i32([0, 0]), i32(5)))
    run("array_unsorted_segment_half", "UnsortedSegmentSum of float16",
        lambda x, s, n: r.UnsortedSegmentSum(data=x, segment_ids=s, num_segments=n, name="y"),
        (np.array([0.5, 1.25, 2, 1000], np.float16), i32([1, 1, 0, 1]), i32(2)))


def more_cases():
    run("array_tensor_scatter", "TensorScatterUpdate/Add/Sub/Max/Min on rows and elements; a bad index fails",
        lambda t, i, u, j, v: [r.TensorScatterUpdate(tensor=t, indices=i, updates=u, name="u"),
                               r.TensorScatterAdd(tensor=t, indices=i, updates=u, name="a"),
                               r.TensorScatterSub(tensor=t, indices=i, updates=u, name="s"),
                               r.TensorScatterMax(tensor=t, indices=j, updates=v, name="x"),
                               r.TensorScatterMin(tensor=t, indices=j, updates=v, name="n")],
        (f32(3, 2), i32([[2], [0]]), f32(2, 2, start=10), i32([[0, 1], [2, 0]]), np.array([-5, 9], np.float32)),
        (f32(3, 2), i32([[3], [0]]), f32(2, 2, start=10), i32([[0, 1], [2, 0]]), np.array([-5, 9], np.float32)))
    run("array_tensor_scatter_update_bool", "TensorScatterUpdate of bool elements",
        lambda t, i, u: r.TensorScatterUpdate(tensor=t, indices=i, updates=u, name="y"),
        (np.array([[True, False], [False, False]]), i64([[1, 1]]), np.array([True])))
    run("array_dynamic_partition", "DynamicPartition of rows into 3 (one empty); a partition out of range fails",
        lambda d, p: list(r.DynamicPartition(data=d, partitions=p, num_partitions=3, name="y")),
        (f32(4, 2), i32([2, 0, 2, 2])), (f32(4, 2), i32([2, 0, 3, 2])))
    run("array_dynamic_partition_2d", "DynamicPartition with 2-D partitions of an int64 tensor",
        lambda d, p: list(r.DynamicPartition(data=d, partitions=p, num_partitions=2, name="y")),
        (np.arange(12, dtype=np.int64).reshape(2, 3, 2), i32([[1, 0, 1], [0, 0, 1]])))
    run("array_parallel_dynamic_stitch", "ParallelDynamicStitch with distinct indices",
        lambda i0, i1, d0, d1: r.ParallelDynamicStitch(indices=[i0, i1], data=[d0, d1], name="y"),
        (i32([0, 3]), i32([[1], [2]]), f32(2, 2), f32(2, 1, 2, start=10)))
    run("array_unique_with_counts", "UniqueWithCounts with int64 out_idx",
        lambda x: list(r.UniqueWithCounts(x=x, out_idx=tf.int64, name="y")),
        (i32([4, 1, 4, 4, 2, 1]),), (np.array([], np.int32),))
    run("array_matrix_band_part", "MatrixBandPart: lower only, upper only, both, everything; too wide a band fails",
        lambda x, a, b: r.MatrixBandPart(input=x, num_lower=a, num_upper=b, name="y"),
        (f32(2, 3, 4, start=1), i64(1), i64(0)), (f32(2, 3, 4, start=1), i64(0), i64(-1)),
        (f32(2, 3, 4, start=1), i64(-1), i64(-1)), (f32(2, 3, 4, start=1), i64(1), i64(2)),
        (f32(2, 3, 4, start=1), i64(4), i64(0)))
    run("array_reverse_sequence", "ReverseSequence with batch_dim 1 and seq_dim 0; a too-long length fails",
        lambda x, n: r.ReverseSequence(input=x, seq_lengths=n, seq_dim=0, batch_dim=1, name="y"),
        (f32(4, 3, 2), i64([4, 0, 2])), (f32(4, 3, 2), i64([5, 0, 2])))
    run("array_reverse_sequence_int", "ReverseSequence of int32 with seq_dim 1 (the RNN layout)",
        lambda x, n: r.ReverseSequence(input=x, seq_lengths=n, seq_dim=1, name="y"),
        (np.arange(10, dtype=np.int32).reshape(2, 5), i32([3, 5])))


def space_cases():
    x = f32(2, 4, 6, 3)
    run("array_space_to_batch_nd", "SpaceToBatchND with padding over two spatial dimensions; indivisible padding fails",
        lambda t, b, p: r.SpaceToBatchND(input=t, block_shape=b, paddings=p, name="y"),
        (x, i32([2, 3]), i32([[1, 1], [0, 0]])), (x, i32([3, 3]), i32([[0, 0], [0, 0]])), known=(1, 2))
    run("array_space_to_batch_nd_1d", "SpaceToBatchND over one spatial dimension of an int64 tensor",
        lambda t, b, p: r.SpaceToBatchND(input=t, block_shape=b, paddings=p, name="y"),
        (np.arange(12, dtype=np.int64).reshape(2, 6), i64([3]), i64([[2, 1]])), known=(1, 2))
    run("array_batch_to_space_nd", "BatchToSpaceND with crops; an indivisible batch fails",
        lambda t, b, c: r.BatchToSpaceND(input=t, block_shape=b, crops=c, name="y"),
        (f32(12, 3, 2, 1), i32([2, 3]), i32([[1, 1], [0, 1]])), (f32(5, 2, 2, 1), i32([2, 2]), i32([[0, 0], [0, 0]])),
        known=(1, 2))
    run("array_batch_to_space_nd_1d", "BatchToSpaceND over one spatial dimension",
        lambda t, b, c: r.BatchToSpaceND(input=t, block_shape=b, crops=c, name="y"),
        (f32(4, 2, 2, 1), i64([2]), i64([[1, 0]])), known=(1, 2))
    run("array_space_depth", "SpaceToDepth and DepthToSpace with block 2; indivisible sizes fail",
        lambda t, u: [r.SpaceToDepth(input=t, block_size=2, name="y"), r.DepthToSpace(input=u, block_size=2, name="z")],
        (f32(2, 4, 6, 3), f32(2, 3, 2, 8)), (f32(1, 3, 4, 1), f32(1, 1, 1, 4)), (f32(1, 2, 2, 1), f32(1, 1, 1, 6)))
    run("array_concat_v1", "Concat (the first version, axis first) of int32",
        lambda a, x, y: r.Concat(concat_dim=a, values=[x, y], name="y"),
        (i32(1), np.ones((2, 1), np.int32), np.zeros((2, 2), np.int32)), (i32(2), np.ones((2, 1), np.int32), np.zeros((2, 2), np.int32)))


def diagonal_cases():
    run("array_matrix_diag_v3", "MatrixDiagV3: a band with every align, explicit sizes and padding",
        lambda d, k, nr, nc, p: [r.MatrixDiagV3(diagonal=d, k=k, num_rows=nr, num_cols=nc, padding_value=p, align=a,
                                                name=f"y_{a.lower()}")
                                 for a in ("LEFT_LEFT", "LEFT_RIGHT", "RIGHT_LEFT", "RIGHT_RIGHT")],
        (f32(2, 3, 3, start=1), i32([-1, 1]), i32(-1), i32(-1), np.float32(-9)),
        (f32(2, 3, 3, start=1), i32([-1, 1]), i32(3), i32(4), np.float32(0)),
        (f32(2, 3, 3, start=1), i32([-2, 1]), i32(-1), i32(-1), np.float32(0)))
    run("array_matrix_diag_v3_single", "MatrixDiagV3 of one superdiagonal into a wide matrix; tf.eye",
        lambda d, k, nr, nc, p: [r.MatrixDiagV3(diagonal=d, k=k, num_rows=nr, num_cols=nc, padding_value=p, name="y"),
                                 tf.eye(3, 2, batch_shape=[2], dtype=tf.int32, name="eye")],
        (np.array([[1, 2], [3, 4]], np.int64), i32(1), i32(-1), i32(-1), np.int64(7)))
    run("array_matrix_diag_v1_v2", "MatrixDiag and MatrixDiagV2 (left-aligned)",
        lambda d, e, k: [r.MatrixDiag(diagonal=d, name="y"),
                         r.MatrixDiagV2(diagonal=e, k=k, num_rows=-1, num_cols=-1, padding_value=0.0, name="z")],
        (f32(2, 3, start=1), f32(2, 2, start=1), i32([0, 1])))
    run("array_matrix_diag_part", "MatrixDiagPart V1 and V3 on a tall matrix with every align; a band out of the matrix fails",
        lambda x, k, p: [r.MatrixDiagPart(input=x, name="v1")]
        + [r.MatrixDiagPartV3(input=x, k=k, padding_value=p, align=a, name=f"y_{a.lower()}")
           for a in ("LEFT_LEFT", "LEFT_RIGHT", "RIGHT_LEFT", "RIGHT_RIGHT")],
        (f32(2, 4, 3, start=1), i32([-2, 1]), np.float32(-1)), (f32(2, 4, 3, start=1), i32([-4, 0]), np.float32(-1)))
    run("array_matrix_set_diag", "MatrixSetDiag V1 and V3 with a band; a wrong diagonal shape fails",
        lambda x, d, e, k: [r.MatrixSetDiag(input=x, diagonal=d, name="v1"), r.MatrixSetDiagV3(input=x, diagonal=e, k=k, name="y")],
        (f32(3, 4, start=1), np.array([-1, -2, -3], np.float32), -f32(2, 3, start=1), i32([0, 1])),
        (f32(3, 4, start=1), np.array([-1, -2, -3], np.float32), -f32(3, 3, start=1), i32([0, 1])))
    run("array_diag", "Diag and DiagPart of a rank-2 tensor",
        lambda d, x: [r.Diag(diagonal=d, name="y"), r.DiagPart(input=x, name="z")],
        (np.array([[1, 2], [3, 4]], np.int32), np.arange(16, dtype=np.float32).reshape(2, 2, 2, 2)),
        (np.array([[1, 2], [3, 4]], np.int32), f32(2, 3)))


def sparse_dense_cases():
    run("array_sparse_to_dense", "SparseToDense: matrix indices; unsorted, repeated and out-of-bounds indices fail",
        lambda i, s, v, d: r.SparseToDense(sparse_indices=i, output_shape=s, sparse_values=v, default_value=d, name="y"),
        (i32([[0, 1], [1, 0]]), i32([2, 3]), np.array([5, 6], np.float32), np.float32(-1)),
        (i32([[1, 0], [0, 1]]), i32([2, 3]), np.array([5, 6], np.float32), np.float32(-1)),
        (i32([[0, 1], [0, 1]]), i32([2, 3]), np.array([5, 6], np.float32), np.float32(-1)),
        (i32([[0, 3], [1, 0]]), i32([2, 3]), np.array([5, 6], np.float32), np.float32(-1)))
    run("array_sparse_to_dense_unvalidated", "SparseToDense without validation: any order, the last repeat wins",
        lambda i, s, v, d: r.SparseToDense(sparse_indices=i, output_shape=s, sparse_values=v, default_value=d,
                                           validate_indices=False, name="y"),
        (i64([[1, 0], [0, 1], [1, 0]]), i64([2, 3]), np.array([5, 6, 7], np.int32), np.int32(0)),
        (i64([[2, 0]]), i64([2, 3]), np.array([5], np.int32), np.int32(0)))
    run("array_sparse_to_dense_vector", "SparseToDense of a vector with a scalar value and a scalar index",
        lambda i, s, v, d, j: [r.SparseToDense(sparse_indices=i, output_shape=s, sparse_values=v, default_value=d, name="y"),
                               r.SparseToDense(sparse_indices=j, output_shape=s, sparse_values=v, default_value=d, name="z")],
        (i32([0, 2]), i32([4]), np.array(True), np.array(False), i32(3)))
    run("array_bitcast", "Bitcast to a narrower and a wider type, and between equal widths; a mismatch fails",
        lambda x, y: [r.Bitcast(input=x, type=tf.int16, name="y"), r.Bitcast(input=x, type=tf.int32, name="z"),
                      r.Bitcast(input=y, type=tf.float32, name="w")],
        (np.array([1.0, -2.5], np.float32), np.array([[0, 16256], [0, -16384]], np.int16)),
        (np.array([1.0, -2.5], np.float32), np.array([1, 2, 3], np.int16)))


def strided_slice_random_cases():
    """Forty random StridedSlice specs (every mask, negative strides, clamping) that TensorFlow
    accepts, fetched together from one input: a wide net for the dense-spec logic."""
    rng = np.random.default_rng(7)
    x = f32(3, 4, 2)
    specs = []
    while len(specs) < 40:
        sparse = int(rng.integers(1, 5))
        spec = dict(
            begin=[int(v) for v in rng.integers(-5, 5, sparse)],
            end=[int(v) for v in rng.integers(-5, 5, sparse)],
            strides=[int(rng.choice([-3, -2, -1, 1, 2, 3])) for _ in range(sparse)],
            begin_mask=int(rng.integers(0, 1 << sparse)), end_mask=int(rng.integers(0, 1 << sparse)),
            new_axis_mask=int(rng.integers(0, 1 << sparse)) if rng.random() < 0.4 else 0,
            shrink_axis_mask=int(rng.integers(0, 1 << sparse)) if rng.random() < 0.4 else 0,
            ellipsis_mask=(1 << int(rng.integers(0, sparse))) if rng.random() < 0.4 else 0)
        try:
            r.StridedSlice(input=tf.constant(x), **spec)
        except Exception:
            continue
        specs.append(spec)
    run("array_strided_slice_random", "Forty random StridedSlice specs TensorFlow accepts",
        lambda t: [r.StridedSlice(input=t, name=f"y{i}", **spec) for i, spec in enumerate(specs)], (x,))


def dtype_cases():
    """Data movement on dtypes the float cases do not reach."""
    b = np.array([[True, False, True], [False, False, True]])
    h = np.array([[1.5, -2, 0.25], [8, 16, -0.5]], dtype=np.float16)
    run("array_moves_bool_half", "Tile, Transpose, ReverseV2, Pad and StridedSlice of bool and float16",
        lambda x, y: [r.Tile(input=x, multiples=[1, 2], name="t"), r.Transpose(x=y, perm=[1, 0], name="u"),
                      r.ReverseV2(tensor=x, axis=[1], name="v"), r.Pad(input=y, paddings=[[1, 0], [0, 1]], name="w"),
                      r.StridedSlice(input=y, begin=[0, 2], end=[2, 0], strides=[1, -1], name="s")],
        (b, h))
    run("array_cumsum_half_uint8", "Cumsum of float16 and uint8 (wrapping)",
        lambda x, y: [r.Cumsum(x=x, axis=0, name="y"), r.Cumsum(x=y, axis=0, reverse=True, name="z")],
        (np.array([0.1, 0.2, 0.3, 1000], dtype=np.float16), np.array([200, 100, 7], dtype=np.uint8)))
    run("array_where_int", "Where on int64 and a rank-3 bool tensor",
        lambda x, y: [r.Where(condition=x, name="y"), r.Where(condition=y, name="z")],
        (i64([0, 3, 0, -1]), np.array([[[True], [False]], [[False], [True]]])))
    run("array_gather_empty", "GatherV2 from an empty axis with no indices, and Gather of a 3-D int8 tensor",
        lambda p, i, q, j: [r.GatherV2(params=p, indices=i, axis=0, name="y"), r.Gather(params=q, indices=j, name="z")],
        (np.zeros((0, 2), dtype=np.float32), i32([]), np.arange(12, dtype=np.int8).reshape(3, 2, 2), i32([[1], [2]])))
    x = f32(2, 3, 4)
    run("array_strided_slice_more", "StridedSlice x[..., None], x[1, ..., ::-2], x[:, None, 1, 3:]",
        lambda t: [r.StridedSlice(input=t, begin=[0, 0], end=[0, 0], strides=[1, 1], ellipsis_mask=1, new_axis_mask=2, name="y"),
                   r.StridedSlice(input=t, begin=[1, 0, 0], end=[2, 0, 0], strides=[1, 1, -2], ellipsis_mask=2,
                                  begin_mask=4, end_mask=4, shrink_axis_mask=1, name="z"),
                   r.StridedSlice(input=t, begin=[0, 0, 1, 3], end=[0, 0, 2, 0], strides=[1, 1, 1, 1], begin_mask=1,
                                  end_mask=9, new_axis_mask=2, shrink_axis_mask=4, name="w")],
        (x,))
    run("array_strided_slice_scalar", "StridedSlice of a scalar fails",
        lambda t: r.StridedSlice(input=t, begin=[0], end=[1], strides=[1], name="y"), (np.float32(3),))


def existing_cases():
    """Ops Weft had before this family, checked against TensorFlow too."""
    x = f32(2, 3)
    run("array_reshape", "Reshape with -1; a wrong size fails",
        lambda t, s: r.Reshape(tensor=t, shape=s, name="y"),
        (x, i32([3, -1])), (x, i64([-1])), (x, i32([4, -1])))
    run("array_fill_range", "Fill and Range (float and negative int deltas)",
        lambda d, v, a, b, c: [r.Fill(dims=d, value=v, name="y"), r.Range(start=a, limit=b, delta=c, name="z")],
        (i32([2, 2]), np.float32(1.5), i32(10), i32(1), i32(-3)))
    run("array_squeeze_expand", "Squeeze (all and listed) and ExpandDims at -1",
        lambda t, a: [r.Squeeze(input=t, name="y"), r.Squeeze(input=t, axis=[0], name="z"),
                      r.ExpandDims(input=t, axis=a, name="w")],
        (f32(1, 2, 1), i32(-1)))
    run("array_pack_concat", "Pack on axis 1 and ConcatV2 on axis -1",
        lambda a, b, ax: [r.Pack(values=[a, b], axis=1, name="y"), r.ConcatV2(values=[a, b], axis=ax, name="z")],
        (f32(2, 2), f32(2, 2, start=4), i32(-1)))
    run("array_transpose", "Transpose of a rank-3 int8 tensor",
        lambda t, p: r.Transpose(x=t, perm=p, name="y"),
        (np.arange(24, dtype=np.int8).reshape(2, 3, 4), i32([2, 0, 1])), (np.arange(24, dtype=np.int8).reshape(2, 3, 4), i32([0, 0, 1])))
    run("array_arg_max_min", "ArgMax int32 output and ArgMin int64 with ties to the first index",
        lambda t, a: [r.ArgMax(input=t, dimension=a, output_type=tf.int32, name="y"),
                      r.ArgMin(input=t, dimension=a, name="z")],
        (np.array([[1, 5, 5], [2, 0, 0]], dtype=np.float32), i32(1)),
        (np.array([[1, 5, 5], [2, 0, 0]], dtype=np.float32), i32(0)))
    run("array_reshape_zero_sizes", "Reshape of empty tensors: a -1 beside a 0 is inferred from the non-zero dimensions",
        lambda t, s: r.Reshape(tensor=t, shape=s, name="y"),
        (np.zeros((0, 2), np.float32), i32([0, -1])), (np.zeros((0, 3), np.float32), i32([-1, 0, 2])),
        (np.zeros((6,), np.float32), i32([0, -1])), (np.zeros((0, 2), np.float32), i32([-1, 2])))
    run("array_transpose_negative_perm", "Transpose accepts negative perm entries; a repeated one fails",
        lambda t, p: r.Transpose(x=t, perm=p, name="y"),
        (f32(2, 3), i64([-1, 0])), (f32(2, 3), i64([-2, 0])))
    run("array_arg_max_nan", "ArgMax/ArgMin never choose a NaN over a number, a leading NaN included",
        lambda t, a: [r.ArgMax(input=t, dimension=a, name="y"), r.ArgMin(input=t, dimension=a, name="z")],
        (np.array([[1, np.nan, 3], [np.nan, 0, 0], [np.nan, np.nan, np.nan]], np.float32), i32(1)),
        (np.array([[1, np.nan, 3], [np.nan, 0, 0], [np.nan, np.nan, np.nan]], np.float32), i32(0)))
    run("array_concat_empty_pieces", "ConcatV2 with an empty piece and an int64 axis; mismatched shapes fail",
        lambda a, b, ax: r.ConcatV2(values=[a, b], axis=ax, name="y"),
        (np.zeros((0, 2), np.float32), f32(1, 2), i64(0)), (f32(1, 2), f32(1, 3), i64(0)))
    run("array_scatter_nd_bool", "ScatterNd of bool: repeated indices combine with OR",
        lambda i, u, s: r.ScatterNd(indices=i, updates=u, shape=s, name="y"),
        (i32([[0], [0], [2]]), np.array([True, True, False]), i32([3])))
    run("array_scatter_nd_int8_wraps", "ScatterNd of int8 wraps on overflow",
        lambda i, u, s: r.ScatterNd(indices=i, updates=u, shape=s, name="y"),
        (i32([[0], [0]]), np.array([100, 100], np.int8), i32([2])))
    run("array_scatter_nd_scalar_updates", "ScatterNd refuses scalar updates",
        lambda i, u, s: r.ScatterNd(indices=i, updates=u, shape=s, name="y"),
        (i32([1]), np.float32(3), i32([2])))
    run("array_size_rank_like", "Size, Rank, ZerosLike and OnesLike of int16",
        lambda t: [r.Size(input=t, out_type=tf.int64, name="z"), r.Rank(input=t, name="w"),
                   r.ZerosLike(x=t, name="u"), r.OnesLike(x=t, name="v")],
        (np.arange(6, dtype=np.int16).reshape(3, 2),))
    run("array_shape", "Shape as int32 and int64",
        lambda t: [r.Shape(input=t, name="y"), r.Shape(input=t, out_type=tf.int64, name="z")],
        (np.zeros((3, 0, 2), dtype=np.float32),))


def cases():
    gather_cases()
    slice_cases()
    pad_cases()
    select_cases()
    sort_cases()
    shape_cases()
    gradient_helper_cases()
    segment_cases()
    more_cases()
    space_cases()
    diagonal_cases()
    sparse_dense_cases()
    strided_slice_random_cases()
    dtype_cases()
    existing_cases()
