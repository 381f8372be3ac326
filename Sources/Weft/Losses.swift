import WeftRuntime

/// The cross-entropy between `labels` (each row a probability distribution) and the softmax of
/// `logits`, one value per row: output 0 of TensorFlow's `SoftmaxCrossEntropyWithLogits`
/// (`tf.nn.softmax_cross_entropy_with_logits`). Both are `[batch, classes]` of one float type;
/// its gradient with respect to the logits is `softmax(logits) - labels`.
public func softmaxCrossEntropyWithLogits(logits: Output, labels: Output, name: String? = nil) -> Output {
    logits.graph.addOperation(
        "SoftmaxCrossEntropyWithLogits",
        name: name,
        inputs: [logits, labels],
        attributes: ["T": .type(logits.dtype)]
    ).output(0)
}
