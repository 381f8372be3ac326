import WeftRuntime

/// Multilevel k-way partitioning (Karypis and Kumar's k-way METIS scheme, refined for traffic):
/// the whole graph is coarsened once, the coarsest graph is split by recursive bisection, and
/// the partition is projected back level by level, each level's tensors contracted with it so
/// that `KWayRefinement` improves the traffic itself at every level, not only the finest.
///
/// Moving a coarse vertex moves a whole cluster at once, which a refinement at the finest level
/// alone cannot do: a block of layers that would serve its neighbour better goes over in one
/// move instead of vertex by vertex through worse states.
struct MultilevelKWay {
    let devices: Int
    let imbalance: Double
    /// Refinement passes at every level, and how many of them also make moves that save nothing.
    var passes = 6
    var plateauPasses = 3
    /// Recursive bisections of the coarsest graph tried.
    var initialTries = 1

    /// The part of every vertex of `graph`; `masks[v]` holds the parts vertex `v` may use.
    func partition(
        _ graph: WeightedGraph,
        nets: TensorNets,
        masks: [UInt64],
        random: inout SplitMix64
    ) -> [Int] {
        guard graph.count > 0 else { return [] }
        let (pin, classMasks) = Self.pinClasses(masks, devices: devices)
        var coarsening = MultilevelBisection(fraction: 0.5, imbalance: imbalance)
        // Enough coarse vertices for every part to be balanced from many of them.
        coarsening.coarsestSize = max(coarsening.coarsestSize, 30 * devices)
        let (levels, coarsest) = coarsening.coarsen(graph, pin: pin, random: &random)
        var hierarchy = Hierarchy(
            levels: levels,
            coarsest: coarsest,
            masks: masks,
            classMasks: classMasks,
            devices: devices
        )
        let coarseMasks = hierarchy.masks(at: levels.count)
        // The tensors of every level and the first split of the coarsest graph need nothing of
        // each other, so they take a core each; the split draws from the stream as it would alone.
        let start = random
        let (levelNets, split) = Concurrently.both(
            { hierarchy.contractedNets(nets) },
            { () -> (part: [Int], random: SplitMix64) in
                var random = start
                let part = MinCutPlacement.bisectRecursively(
                    coarsest.graph,
                    masks: coarseMasks,
                    devices: devices,
                    imbalance: imbalance,
                    random: &random
                )
                return (part, random)
            }
        )
        hierarchy.nets = levelNets
        random = split.random
        let part = initialPartition(
            coarsest.graph,
            firstSplit: split.part,
            nets: levelNets[levels.count],
            masks: coarseMasks,
            random: &random
        )
        return uncoarsen(part, hierarchy, random: &random)
    }

    /// Improves a partition by a V-cycle: coarsening that keeps every cluster inside one part,
    /// then refinement at every level back up, so whole clusters can change parts.
    func improve(
        _ part: [Int],
        graph: WeightedGraph,
        nets: TensorNets,
        masks: [UInt64],
        random: inout SplitMix64
    ) -> [Int] {
        guard graph.count > 0, devices > 1 else { return part }
        let (classes, classMasks) = Self.pinClasses(masks, devices: devices)
        // A vertex's pin names its part and its class, so clusters never straddle either.
        let classCount = classMasks.count + 1
        let pin = part.indices.map { part[$0] * classCount + classes[$0] + 1 }
        var coarsening = MultilevelBisection(fraction: 0.5, imbalance: imbalance)
        coarsening.coarsestSize = max(coarsening.coarsestSize, 30 * devices)
        let (levels, coarsest) = coarsening.coarsen(graph, pin: pin, random: &random)
        let classMasksOfPins = (0..<(devices * classCount)).map { key -> UInt64 in
            let classIndex = key % classCount - 1
            return classIndex < 0 ? MinCutPlacement.bitRange(0, devices) : classMasks[classIndex]
        }
        var hierarchy = Hierarchy(
            levels: levels,
            coarsest: coarsest,
            masks: masks,
            classMasks: classMasksOfPins,
            devices: devices
        )
        hierarchy.nets = hierarchy.contractedNets(nets)
        let coarsePart = coarsest.pin.map { $0 / classCount }
        return uncoarsen(coarsePart, hierarchy, random: &random)
    }

    /// Projects a partition of the coarsest graph back to the finest, refining at every level.
    private func uncoarsen(_ coarsePart: [Int], _ hierarchy: Hierarchy, random: inout SplitMix64) -> [Int] {
        var part = coarsePart
        let levels = hierarchy.levels
        refine(
            &part,
            nets: hierarchy.nets[levels.count],
            weights: hierarchy.coarsest.graph.vertexWeight,
            masks: hierarchy.masks(at: levels.count),
            random: &random
        )
        for index in levels.indices.reversed() {
            part = levels[index].map.map { part[$0] }
            refine(
                &part,
                nets: hierarchy.nets[index],
                weights: levels[index].graph.vertexWeight,
                masks: hierarchy.masks(at: index),
                random: &random
            )
        }
        return part
    }

    /// Coarsening levels with the tensors and allowed parts of every level.
    private struct Hierarchy {
        let levels: [MultilevelBisection.Level]
        let coarsest: (graph: WeightedGraph, pin: [Int])
        /// `nets[i]` are the tensors of level `i`'s graph; the last, of the coarsest.
        var nets: [TensorNets] = []
        let finestMasks: [UInt64]
        /// The mask of every pin value (pins below zero may use every part).
        let classMasks: [UInt64]
        let devices: Int

        init(
            levels: [MultilevelBisection.Level],
            coarsest: (graph: WeightedGraph, pin: [Int]),
            masks: [UInt64],
            classMasks: [UInt64],
            devices: Int
        ) {
            self.levels = levels
            self.coarsest = coarsest
            finestMasks = masks
            self.classMasks = classMasks
            self.devices = devices
        }

        /// The tensors of every level, `finest` contracted level by level (what `nets` holds).
        func contractedNets(_ finest: TensorNets) -> [TensorNets] {
            var nets = [finest]
            nets.reserveCapacity(levels.count + 1)
            for (index, level) in levels.enumerated() {
                let coarseCount = index + 1 < levels.count ? levels[index + 1].graph.count : coarsest.graph.count
                nets.append(nets[index].contracted(by: level.map, into: coarseCount))
            }
            return nets
        }

        /// The allowed parts of every vertex of level `index` (`levels.count` for the coarsest).
        func masks(at index: Int) -> [UInt64] {
            guard index > 0 else { return finestMasks }
            let pins = index < levels.count ? levels[index].pin : coarsest.pin
            let full = MinCutPlacement.bitRange(0, devices)
            return pins.map { $0 < 0 ? full : classMasks[$0] }
        }
    }

    /// The best of `initialTries` recursive bisections of the coarsest graph, each refined for
    /// traffic: the coarsest graph is small, and the initial split decides the most. The first
    /// bisection, `firstSplit`, is made by the caller.
    private func initialPartition(
        _ graph: WeightedGraph,
        firstSplit: [Int],
        nets: TensorNets,
        masks: [UInt64],
        random: inout SplitMix64
    ) -> [Int] {
        var best: (part: [Int], traffic: Int)?
        for attempt in 0..<max(initialTries, 1) {
            var part =
                attempt == 0
                ? firstSplit
                : MinCutPlacement.bisectRecursively(
                    graph,
                    masks: masks,
                    devices: devices,
                    imbalance: imbalance,
                    random: &random
                )
            refine(&part, nets: nets, weights: graph.vertexWeight, masks: masks, random: &random)
            let traffic = nets.traffic(part)
            if traffic < best?.traffic ?? .max { best = (part, traffic) }
        }
        return best?.part ?? []
    }

    private func refine(
        _ part: inout [Int],
        nets: TensorNets,
        weights: [Double],
        masks: [UInt64],
        random: inout SplitMix64
    ) {
        guard devices > 1 else { return }
        let limit = (1 + imbalance) * weights.reduce(0, +) / Double(devices)
        var refinement = KWayRefinement(
            nets: nets,
            vertexWeight: weights,
            parts: devices,
            masks: masks,
            limits: [Double](repeating: limit, count: devices)
        )
        refinement.refine(&part, passes: passes, plateauPasses: plateauPasses, random: &random)
    }

    /// Coarsening keeps vertices of different allowed parts apart: every vertex that may use
    /// any part is free (-1); the others get the index of their mask in `classMasks`, and only
    /// vertices of one class (or free ones) share a cluster.
    static func pinClasses(_ masks: [UInt64], devices: Int) -> (pin: [Int], classMasks: [UInt64]) {
        let full = MinCutPlacement.bitRange(0, devices)
        var classOf: [UInt64: Int] = [:]
        var classMasks: [UInt64] = []
        let pin = masks.map { mask -> Int in
            guard mask & full != full else { return -1 }
            if let known = classOf[mask] { return known }
            classOf[mask] = classMasks.count
            classMasks.append(mask)
            return classMasks.count - 1
        }
        return (pin, classMasks)
    }
}
