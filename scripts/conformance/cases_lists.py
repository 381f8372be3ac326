"""Container ops: TensorList (variant values), TensorArrayV3 and stacks (per-step resources).
Real programs use them inside loops; these cases build straight-line graphs with tf.raw_ops and
fetch the dense results (variant and resource tensors cannot be compared). Indices, sizes and
values are placeholders, so TensorFlow decides at run time (like Weft) and its refusals are
recorded as errors."""
import numpy as np
import tensorflow as tf

from lib import Case, tf1

r = tf.raw_ops
F = tf.float32


def f32(*shape, start=0):
    return np.arange(start, start + int(np.prod(shape)), dtype=np.float32).reshape(shape)


def i32(values):
    return np.array(values, dtype=np.int32)


def i64(values):
    return np.array(values, dtype=np.int64)


def holder(name, dtype=F):
    return tf1.placeholder(dtype, shape=None, name=name)


def case(name, note, build, steps, **kw):
    """A case whose graph `build()` makes and returns (fetches, placeholders by name); each step
    is a dict of fed values by placeholder name, or (feeds, fetch names) to fetch a subset."""
    with Case(name, note, **kw) as c:
        fetches, holders = build()
        runs = []
        for step in steps:
            feeds, chosen = step if isinstance(step, tuple) else (step, None)
            wanted = [f for f in fetches if chosen is None or f.op.name in chosen]
            runs.append(c.step(fetches=wanted, feeds={holders[k]: v for k, v in feeds.items()}))
        c.session(runs)


def list_cases():
    def reserve_set_stack():
        a, b, i = holder("a"), holder("b"), holder("i", tf.int32)
        l0 = r.TensorListReserve(element_shape=[2], num_elements=3, element_dtype=F, name="reserve")
        l1 = r.TensorListSetItem(input_handle=l0, index=0, item=a, name="set0")
        l2 = r.TensorListSetItem(input_handle=l1, index=i, item=b, name="set1")
        l3 = r.TensorListSetItem(input_handle=l2, index=2, item=a + b, name="set2")
        return [r.TensorListStack(input_handle=l3, element_shape=[2], element_dtype=F, num_elements=3, name="y"),
                r.TensorListStack(input_handle=l1, element_shape=[-1], element_dtype=F, name="partial"),
                r.TensorListLength(input_handle=l3, name="n"),
                r.TensorListElementShape(input_handle=l0, shape_type=tf.int32, name="shape")], \
            {"a": a, "b": b, "i": i}
    case("lists_reserve_setitem_stack",
         "Reserve, SetItem x3, Stack; SetItem leaves its input list as it was (unset slots stack as zeros); "
         "an index past the end or negative fails; an item of another shape fails",
         reserve_set_stack,
         [{"a": f32(2), "b": f32(2, start=5), "i": i32(1)},
          {"a": f32(2), "b": f32(2, start=5), "i": i32(3)},
          {"a": f32(2), "b": f32(2, start=5), "i": i32(-1)},
          {"a": f32(2), "b": f32(3), "i": i32(1)}])

    def unknown_shape():
        a, i = holder("a"), holder("i", tf.int32)
        l0 = r.TensorListReserve(element_shape=-1, num_elements=3, element_dtype=F, name="reserve")
        l1 = r.TensorListSetItem(input_handle=l0, index=1, item=a, name="set")
        return [r.TensorListStack(input_handle=l1, element_shape=-1, element_dtype=F, name="y"),
                r.TensorListGetItem(input_handle=l1, index=i, element_shape=-1, element_dtype=F, name="item"),
                r.TensorListElementShape(input_handle=l1, shape_type=tf.int64, name="shape")], {"a": a, "i": i}
    case("lists_unknown_element_shape",
         "A list of unknown element shape: Stack and GetItem of an unset slot infer the shape from the set "
         "elements; ElementShape of an unknown rank is the scalar -1",
         unknown_shape,
         [{"a": f32(2, 2), "i": i32(0)}, {"a": f32(3), "i": i32(1)}])

    def from_tensor():
        x, i = holder("x", tf.int32), holder("i", tf.int32)
        l = r.TensorListFromTensor(tensor=x, element_shape=[-1], name="list")
        return [r.TensorListGetItem(input_handle=l, index=i, element_shape=[-1], element_dtype=tf.int32, name="y"),
                r.TensorListLength(input_handle=l, name="n"),
                r.TensorListElementShape(input_handle=l, shape_type=tf.int32, name="shape")], {"x": x, "i": i}
    case("lists_from_tensor_getitem",
         "FromTensor of int32 rows, GetItem and Length; GetItem out of range or negative fails; a scalar "
         "tensor or rows that do not fit element_shape fail",
         from_tensor,
         [{"x": np.arange(6, dtype=np.int32).reshape(3, 2), "i": i32(2)},
          {"x": np.arange(6, dtype=np.int32).reshape(3, 2), "i": i32(3)},
          {"x": np.arange(6, dtype=np.int32).reshape(3, 2), "i": i32(-1)},
          {"x": np.int32(4), "i": i32(0)},
          {"x": np.arange(8, dtype=np.int32).reshape(2, 2, 2), "i": i32(0)}])

    def empty_stack():
        s = holder("s", tf.int32)
        known = r.EmptyTensorList(element_shape=[0, 3], max_num_elements=-1, element_dtype=F, name="known")
        unknown = r.EmptyTensorList(element_shape=s, max_num_elements=-1, element_dtype=F, name="unknown")
        return [r.TensorListStack(input_handle=known, element_shape=-1, element_dtype=F, name="y"),
                r.TensorListStack(input_handle=unknown, element_shape=-1, element_dtype=F, name="z")], {"s": s}
    case("lists_stack_empty",
         "Stack of an empty list gives [0, ...] with a fully defined element shape and fails without one",
         empty_stack,
         [{"s": i32([2])}, {"s": i32(-1)}, {"s": i32([2, -1])}])

    def push_pop():
        a, b, m = holder("a"), holder("b"), holder("m", tf.int32)
        l0 = r.EmptyTensorList(element_shape=[-1], max_num_elements=m, element_dtype=F, name="empty")
        l1 = r.TensorListPushBack(input_handle=l0, tensor=a, name="push_a")
        l2 = r.TensorListPushBack(input_handle=l1, tensor=b, name="push_b")
        l3, top = r.TensorListPopBack(input_handle=l2, element_shape=-1, element_dtype=F, name="pop")
        l4, second = r.TensorListPopBack(input_handle=l3, element_shape=-1, element_dtype=F, name="pop2")
        _, third = r.TensorListPopBack(input_handle=l4, element_shape=[2], element_dtype=F, name="pop3")
        return [tf.identity(top, name="top"), tf.identity(second, name="second"),
                r.TensorListStack(input_handle=l2, element_shape=-1, element_dtype=F, name="y"),
                r.TensorListLength(input_handle=l3, name="n"), tf.identity(third, name="third")], \
            {"a": a, "b": b, "m": m}
    case("lists_push_pop",
         "PushBack twice, PopBack in reverse order; the pushed lists keep their elements; a push past "
         "max_num_elements fails; popping an empty list fails",
         push_pop,
         [({"a": f32(2), "b": f32(2, start=3), "m": i32(-1)}, ["top", "second", "y", "n"]),
          ({"a": f32(2), "b": f32(2, start=3), "m": i32(1)}, ["y"]),
          ({"a": f32(2), "b": f32(2, start=3), "m": i32(2)}, ["third"]),
          ({"a": f32(2), "b": f32(3), "m": i32(2)}, ["y"])])

    def pop_unset():
        s = holder("s", tf.int32)
        l0 = r.TensorListReserve(element_shape=[-1, 2], num_elements=2, element_dtype=tf.int64, name="reserve")
        _, item = r.TensorListPopBack(input_handle=l0, element_shape=s, element_dtype=tf.int64, name="pop")
        return [tf.identity(item, name="y")], {"s": s}
    case("lists_pop_unset",
         "PopBack of a reserved slot gives zeros of the merged element shape; a not fully defined one fails",
         pop_unset,
         [{"s": i32([3, -1])}, {"s": i32(-1)}, {"s": i32([3, 3])}])

    def gather_scatter():
        x, idx, n, into = holder("x"), holder("idx", tf.int32), holder("n", tf.int32), holder("into", tf.int32)
        l = r.TensorListFromTensor(tensor=x, element_shape=[2], name="list")
        scattered = r.TensorListScatterV2(tensor=x, indices=into, element_shape=[2], num_elements=n, name="scatter")
        v1 = r.TensorListScatter(tensor=x, indices=into, element_shape=[-1], name="scatter_v1")
        existing = r.TensorListScatterIntoExistingList(input_handle=l, tensor=x, indices=into, name="into_list")
        return [r.TensorListGather(input_handle=l, indices=idx, element_shape=[2], element_dtype=F, name="y"),
                r.TensorListStack(input_handle=scattered, element_shape=[2], element_dtype=F, name="z"),
                r.TensorListLength(input_handle=v1, name="n1"),
                r.TensorListStack(input_handle=existing, element_shape=[2], element_dtype=F, name="w")], \
            {"x": x, "idx": idx, "n": n, "into": into}
    case("lists_gather_scatter",
         "Gather with repeats; ScatterV2 into a list of num_elements (unset rows are zeros); Scatter sizes "
         "the list by its largest index; ScatterIntoExistingList within the list, later rows winning on a "
         "repeated index; bad indices fail. (TensorFlow 2.21 puts rows that ScatterIntoExistingList writes "
         "past the list's end at the wrong positions and leaves others uninitialized, so only its scatter "
         "within the list is compared.)",
         gather_scatter,
         [({"x": f32(3, 2), "idx": i32([2, 0, 2]), "n": i32(5), "into": i32([4, 0, 1])}, ["y", "z", "n1"]),
          ({"x": f32(3, 2), "idx": i32([]), "n": i32(-1), "into": i32([1, 5, 2])}, ["y", "z", "n1"]),
          ({"x": f32(3, 2), "idx": i32([0]), "n": i32(5), "into": i32([2, 0, 0])}, ["w"]),
          ({"x": f32(3, 2), "idx": i32([3]), "n": i32(5), "into": i32([4, 0, 1])}, ["y"]),
          ({"x": f32(3, 2), "idx": i32([0]), "n": i32(3), "into": i32([4, 0, 1])}, ["z"]),
          ({"x": f32(3, 2), "idx": i32([0]), "n": i32(5), "into": i32([0, -1, 1])}, ["n1"]),
          ({"x": f32(3, 2), "idx": i32([0]), "n": i32(5), "into": i32([0, 1])}, ["w"])])

    def concat_split():
        x, lengths, lead = holder("x"), holder("lengths", tf.int64), holder("lead", tf.int64)
        l = r.TensorListSplit(tensor=x, element_shape=[-1, 2], lengths=lengths, name="split")
        y, ylen = r.TensorListConcatV2(input_handle=l, element_shape=[-1, 2], leading_dims=i64([]),
                                       element_dtype=F, name="concat")
        reserved = r.TensorListReserve(element_shape=[-1, 2], num_elements=3, element_dtype=F, name="reserve")
        one = r.TensorListSetItem(input_handle=reserved, index=1, item=x, name="set")
        z, zlen = r.TensorListConcatV2(input_handle=one, element_shape=[-1, 2], leading_dims=lead,
                                       element_dtype=F, name="concat_unset")
        return [tf.identity(y, name="y"), tf.identity(ylen, name="y_lengths"), tf.identity(z, name="z"),
                tf.identity(zlen, name="z_lengths"), r.TensorListLength(input_handle=l, name="n")], \
            {"x": x, "lengths": lengths, "lead": lead}
    case("lists_concat_split",
         "Split into pieces of given lengths (one empty), ConcatV2 back with lengths; unset elements take "
         "leading_dims; lengths that do not add up and too few leading_dims fail",
         concat_split,
         [{"x": f32(5, 2), "lengths": i64([2, 0, 3]), "lead": i64([1, 5, 2])},
          ({"x": f32(5, 2), "lengths": i64([2, 2]), "lead": i64([1, 5, 2])}, ["y"]),
          ({"x": f32(5, 2), "lengths": i64([2, 4]), "lead": i64([1, 5, 2])}, ["y"]),
          ({"x": f32(5, 2), "lengths": i64([5]), "lead": i64([1])}, ["z"])])

    def resize():
        x, n = holder("x", tf.int32), holder("n", tf.int32)
        l = r.TensorListFromTensor(tensor=x, element_shape=[2], name="list")
        bigger = r.TensorListResize(input_handle=l, size=n, name="resize")
        return [r.TensorListStack(input_handle=bigger, element_shape=[2], element_dtype=tf.int32, name="y"),
                r.TensorListLength(input_handle=bigger, name="n_out")], {"x": x, "n": n}
    case("lists_resize",
         "Resize grows with unset (zero) elements and shrinks; a negative size fails",
         resize,
         [{"x": np.arange(4, dtype=np.int32).reshape(2, 2), "n": i32(4)},
          {"x": np.arange(4, dtype=np.int32).reshape(2, 2), "n": i32(1)},
          {"x": np.arange(4, dtype=np.int32).reshape(2, 2), "n": i32(-1)}])

    def reserve_sizes():
        n = holder("n", tf.int32)
        l = r.TensorListReserve(element_shape=[2], num_elements=n, element_dtype=F, name="reserve")
        return [r.TensorListLength(input_handle=l, name="y"),
                r.TensorListStack(input_handle=l, element_shape=-1, element_dtype=F, name="z")], {"n": n}
    case("lists_reserve_sizes",
         "Reserve of 0 and of 4 elements stacks zeros; a negative num_elements fails",
         reserve_sizes,
         [{"n": i32(0)}, {"n": i32(4)}, {"n": i32(-2)}])


def list_arithmetic_cases():
    def zeros_add():
        x, y = holder("x"), holder("y")
        a = r.TensorListFromTensor(tensor=x, element_shape=[2], name="a")
        reserved = r.TensorListReserve(element_shape=[2], num_elements=3, element_dtype=F, name="reserve")
        b = r.TensorListSetItem(input_handle=reserved, index=1, item=y, name="b")
        zeros = tf.zeros_like(a, name="zeros")
        total = tf.math.add_n([a, b], name="total")
        return [r.TensorListStack(input_handle=zeros, element_shape=[2], element_dtype=F, name="z"),
                r.TensorListStack(input_handle=total, element_shape=[2], element_dtype=F, name="y_sum"),
                r.TensorListStack(input_handle=tf.math.add_n([b, b]), element_shape=[2], element_dtype=F,
                                  name="b_twice")], {"x": x, "y": y}
    case("lists_zeros_like_add_n",
         "ZerosLike and AddN of lists, as v2 loop gradients use them: elements added where both are set, "
         "taken as they are where one is; lists of different lengths fail",
         zeros_add,
         [{"x": f32(3, 2), "y": f32(2, start=10)},
          ({"x": f32(2, 2), "y": f32(2, start=10)}, ["y_sum"])])


def tensor_array_cases():
    def write_read():
        a, b, i, j = holder("a"), holder("b"), holder("i", tf.int32), holder("j", tf.int32)
        ta, flow = r.TensorArrayV3(size=3, dtype=F, element_shape=[2], clear_after_read=False,
                                   tensor_array_name="acc", name="ta")
        f = r.TensorArrayWriteV3(handle=ta, index=0, value=a, flow_in=flow, name="w0")
        f = r.TensorArrayWriteV3(handle=ta, index=i, value=b, flow_in=f, name="w1")
        read = r.TensorArrayReadV3(handle=ta, index=j, flow_in=f, dtype=F, name="y")
        with tf1.control_dependencies([read]):
            gathered = r.TensorArrayGatherV3(handle=ta, indices=[2, 0, 1], flow_in=f, dtype=F,
                                             element_shape=[2], name="gathered")
        size = r.TensorArraySizeV3(handle=ta, flow_in=f, name="size")
        return [read, gathered, size, tf.identity(f, name="flow")], {"a": a, "b": b, "i": i, "j": j}
    case("lists_tensor_array_write_read_gather",
         "TensorArrayV3 write, read, gather (an unwritten element reads as zeros of element_shape), size; "
         "writing twice, out of range or with another shape fails; reading out of range fails",
         write_read,
         [{"a": f32(2), "b": f32(2, start=5), "i": i32(1), "j": i32(1)},
          {"a": f32(2), "b": f32(2, start=5), "i": i32(0), "j": i32(1)},
          {"a": f32(2), "b": f32(2, start=5), "i": i32(3), "j": i32(1)},
          {"a": f32(2), "b": f32(3), "i": i32(1), "j": i32(1)},
          {"a": f32(2), "b": f32(2), "i": i32(1), "j": i32(4)}])

    def clear_after_read():
        a = holder("a")
        ta, flow = r.TensorArrayV3(size=1, dtype=F, name="ta")
        f = r.TensorArrayWriteV3(handle=ta, index=0, value=a, flow_in=flow, name="w")
        first = r.TensorArrayReadV3(handle=ta, index=0, flow_in=f, dtype=F, name="first")
        with tf1.control_dependencies([first]):
            second = r.TensorArrayReadV3(handle=ta, index=0, flow_in=f, dtype=F, name="second")
        return [first, second], {"a": a}
    case("lists_tensor_array_read_twice",
         "A TensorArray that clears after read refuses a second read of one element",
         clear_after_read, [({"a": f32(2)}, ["first"]), {"a": f32(2)}])

    def scatter_concat():
        x, idx, lengths = holder("x"), holder("idx", tf.int32), holder("lengths", tf.int64)
        ta, flow = r.TensorArrayV3(size=0, dtype=F, dynamic_size=True, name="ta")
        f = r.TensorArrayScatterV3(handle=ta, indices=idx, value=x, flow_in=flow, name="scatter")
        y, ylen = r.TensorArrayConcatV3(handle=ta, flow_in=f, dtype=F, element_shape_except0=[None], name="concat")
        size = r.TensorArraySizeV3(handle=ta, flow_in=f, name="size")
        tb, flow_b = r.TensorArrayV3(size=3, dtype=F, element_shape=[None, 2], name="tb")
        fb = r.TensorArraySplitV3(handle=tb, value=x, lengths=lengths, flow_in=flow_b, name="split")
        z = r.TensorArrayReadV3(handle=tb, index=2, flow_in=fb, dtype=F, name="z")
        return [tf.identity(y, name="y"), tf.identity(ylen, name="y_lengths"), size, z], \
            {"x": x, "idx": idx, "lengths": lengths}
    case("lists_tensor_array_scatter_concat_split",
         "A dynamic TensorArray grows by scatter and concatenates with lengths; SplitV3 writes pieces; "
         "a scatter with indices and rows that disagree and lengths that do not add up fail",
         scatter_concat,
         [{"x": f32(3, 2), "idx": i32([1, 0, 2]), "lengths": i64([1, 0, 2])},
          ({"x": f32(3, 2), "idx": i32([1, 0]), "lengths": i64([1, 0, 2])}, ["y"]),
          ({"x": f32(3, 2), "idx": i32([1, 0, 2]), "lengths": i64([1, 1])}, ["z"]),
          ({"x": f32(3, 2), "idx": i32([1, 0, 2]), "lengths": i64([1, 1, 2])}, ["z"])])

    def grad():
        a, b = holder("a"), holder("b")
        ta, flow = r.TensorArrayV3(size=2, dtype=F, element_shape=[2], name="ta")
        f = r.TensorArrayWriteV3(handle=ta, index=0, value=a, flow_in=flow, name="w")
        g, gflow = r.TensorArrayGradV3(handle=ta, flow_in=f, source="gradients", name="grad")
        gf = r.TensorArrayWriteV3(handle=g, index=0, value=a, flow_in=gflow, name="gw0")
        gf = r.TensorArrayWriteV3(handle=g, index=0, value=b, flow_in=gf, name="gw1")
        total = r.TensorArrayGatherV3(handle=g, indices=[0, 1], flow_in=gf, dtype=F, element_shape=[2], name="y")
        gsize = r.TensorArraySizeV3(handle=g, flow_in=gf, name="size")
        return [total, gsize], {"a": a, "b": b}
    case("lists_tensor_array_grad",
         "TensorArrayGradV3 makes an array of the forward size whose repeated writes add up; unwritten "
         "gradient elements read as zeros; a write of another shape fails",
         grad, [{"a": f32(2), "b": f32(2, start=10)}, {"a": f32(2), "b": f32(3)}])

    def closed():
        a = holder("a")
        ta, flow = r.TensorArrayV3(size=1, dtype=F, name="ta")
        f = r.TensorArrayWriteV3(handle=ta, index=0, value=a, flow_in=flow, name="w")
        with tf1.control_dependencies([f]):
            close = r.TensorArrayCloseV3(handle=ta, name="close")
        with tf1.control_dependencies([close]):
            size = r.TensorArraySizeV3(handle=ta, flow_in=f, name="y")
            read = r.TensorArrayReadV3(handle=ta, index=0, flow_in=f, dtype=F, name="z")
        return [size, read], {"a": a}
    case("lists_tensor_array_closed", "A closed TensorArray keeps its size but refuses reads",
         closed, [({"a": f32(2)}, ["y"]), ({"a": f32(2)}, ["z"])])

    def unknown_unwritten():
        i = holder("i", tf.int32)
        ta, flow = r.TensorArrayV3(size=2, dtype=tf.int32, name="ta")
        f = r.TensorArrayWriteV3(handle=ta, index=0, value=i32([1, 2]), flow_in=flow, name="w")
        return [r.TensorArrayReadV3(handle=ta, index=i, flow_in=f, dtype=tf.int32, name="y")], {"i": i}
    case("lists_tensor_array_unwritten_unknown_shape",
         "Reading an unwritten element of a TensorArray without a fully defined element shape fails",
         unknown_unwritten, [{"i": i32(0)}, {"i": i32(1)}])


def stack_cases():
    def push_pop():
        a, b, m = holder("a"), holder("b"), holder("m", tf.int32)
        s = r.StackV2(max_size=m, elem_type=F, stack_name="saved", name="stack")
        p1 = r.StackPushV2(handle=s, elem=a, name="push_a")
        with tf1.control_dependencies([p1]):
            p2 = r.StackPushV2(handle=s, elem=b, name="push_b")
        with tf1.control_dependencies([p2]):
            top = r.StackPopV2(handle=s, elem_type=F, name="top")
        with tf1.control_dependencies([top]):
            second = r.StackPopV2(handle=s, elem_type=F, name="second")
        with tf1.control_dependencies([second]):
            third = r.StackPopV2(handle=s, elem_type=F, name="third")
        return [top, second, third, tf.identity(p2, name="pushed")], {"a": a, "b": b, "m": m}
    case("lists_stack_push_pop",
         "StackV2: pops return pushes in reverse order; popping an empty stack and pushing past max_size fail",
         push_pop,
         [({"a": f32(2), "b": f32(3, start=4), "m": i32(-1)}, ["top", "second", "pushed"]),
          ({"a": f32(2), "b": f32(3, start=4), "m": i32(-1)}, ["third"]),
          ({"a": f32(2), "b": f32(3, start=4), "m": i32(1)}, ["top"])])

    def closed():
        a = holder("a")
        s = r.StackV2(max_size=-1, elem_type=F, name="stack")
        close = r.StackCloseV2(handle=s, name="close")
        with tf1.control_dependencies([close]):
            p = r.StackPushV2(handle=s, elem=a, name="y")
        with tf1.control_dependencies([p]):
            pop = r.StackPopV2(handle=s, elem_type=F, name="z")
        return [p, pop], {"a": a}
    case("lists_stack_closed", "A push to a closed stack passes its value on (as TensorFlow's does); a pop fails",
         closed, [({"a": f32(2)}, ["y"]), ({"a": f32(2)}, ["z"])])


def cases():
    list_cases()
    list_arithmetic_cases()
    tensor_array_cases()
    stack_cases()
