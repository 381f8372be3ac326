/// # WeftPlacement
///
/// Where each node of a session's graph runs, and the per-worker graphs that follow from it.
///
/// The module owns:
/// - device names and requests (`DeviceName`, `DeviceRequest`);
/// - the placement problem and its hard constraints (explicit devices, `_class` colocation,
///   ref inputs next to their variable): `PlacementProblem`;
/// - the strategies, values of one protocol chosen by name (`PlacementStrategy`,
///   `PlacementStrategies`), and what they weigh: the cost model (`CostModel`, `OpWork`,
///   `LinkMeasurement`), shape inference and memory budgets;
/// - predictions of a placement's step time and traffic (`PlacementStrategies.estimate`);
/// - partitioning one run signature (`RunSignature`) into per-worker graphs joined by
///   `_Send`/`_Recv` pairs (`Partitioner`).
///
/// It is pure computation on `RuntimeGraph`s and NodeDefs: no sockets, no clocks, no processes.
/// It depends on WeftRuntime (and WeftProto for NodeDefs) only; WeftCluster runs it for the
/// coordinator, and WeftBench measures it.
