"""Data-flow ops of synchronous replicas: ConditionalAccumulator (the resource form that
tf.compat.v1 builds) with stale gradients dropped, and FIFOQueue's order, size and close."""
import numpy as np

from lib import Case, tf1


def accumulator_case():
    with Case("dataflow_conditional_accumulator",
              "ResourceConditionalAccumulator: the mean of the gradients applied, a take advancing "
              "the global step so an older local step is dropped, shape and num_required checks, "
              "and SetGlobalStep going back") as c:
        acc = tf1.ConditionalAccumulator(tf1.float32, shape=[2], shared_name="acc")
        step = tf1.placeholder(tf1.int64, [], name="local_step")
        grad = tf1.placeholder(tf1.float32, None, name="gradient")
        apply = acc.apply_grad(grad, local_step=step)
        count = acc.num_accumulated()
        take = acc.take_grad(2)
        take_none = acc.take_grad(0)
        set_step = acc.set_global_step(step)

        def applying(local, values):
            return c.step(targets=[apply], feeds={step: np.int64(local), grad: np.array(values, np.float32)})

        c.session([
            applying(0, [1, 2]), applying(0, [3, 5]), c.step(fetches=[count]), c.step(fetches=[take]),
            applying(0, [100, 100]), c.step(fetches=[count]), applying(1, [1, 1]), c.step(fetches=[count]),
            c.step(fetches=[take_none]), applying(1, [1, 2, 3]),
            c.step(targets=[set_step], feeds={step: np.int64(-5)}), applying(-5, [1, 1]), c.step(fetches=[count]),
        ])


def ref_accumulator_case():
    with Case("dataflow_conditional_accumulator_ref",
              "TensorFlow 1's ref form: ConditionalAccumulator's Ref(string) handle with "
              "AccumulatorApplyGradient, AccumulatorNumAccumulated, AccumulatorTakeGradient and "
              "AccumulatorSetGlobalStep; SUM reduction") as c:
        R = tf1.raw_ops
        acc = R.ConditionalAccumulator(dtype=tf1.float64, shape=[3], shared_name="acc_ref", reduction_type="SUM")
        step = tf1.placeholder(tf1.int64, [], name="local_step")
        grad = tf1.placeholder(tf1.float64, [3], name="gradient")
        apply = R.AccumulatorApplyGradient(handle=acc, local_step=step, gradient=grad)
        count = R.AccumulatorNumAccumulated(handle=acc)
        take = R.AccumulatorTakeGradient(handle=acc, num_required=2, dtype=tf1.float64)
        set_step = R.AccumulatorSetGlobalStep(handle=acc, new_global_step=step)

        def applying(local, values):
            return c.step(targets=[apply], feeds={step: np.int64(local), grad: np.array(values, np.float64)})

        c.session([
            c.step(targets=[set_step], feeds={step: np.int64(3)}), applying(2, [9, 9, 9]), c.step(fetches=[count]),
            applying(3, [1, 2, 3]), applying(4, [0.5, -1, 2]), applying(3, [1, 1, 1]), c.step(fetches=[count]),
            c.step(fetches=[take]), c.step(fetches=[count]), applying(3, [7, 7, 7]), c.step(fetches=[count]),
        ])


def queue_case():
    with Case("dataflow_fifo_queue",
              "FIFOQueueV2 with QueueEnqueueManyV2, QueueDequeueV2, QueueSizeV2 and QueueCloseV2: "
              "order, the elements left after close, then OutOfRange and Cancelled") as c:
        q = tf1.FIFOQueue(-1, tf1.int64, shapes=(), shared_name="q")
        enqueue = q.enqueue_many(tf1.constant([5, 6], tf1.int64))
        dequeue = q.dequeue()
        size = q.size()
        close = q.close()
        c.session([
            c.step(targets=[enqueue]), c.step(fetches=[size]), c.step(fetches=[dequeue]), c.step(targets=[close]),
            c.step(fetches=[dequeue]), c.step(fetches=[dequeue]), c.step(targets=[enqueue]), c.step(fetches=[size]),
        ])


def cases():
    accumulator_case()
    ref_accumulator_case()
    queue_case()
