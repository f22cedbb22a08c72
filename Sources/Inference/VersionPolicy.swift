// VersionPolicy: which versions of a model to serve (Triton's policies: latest n, all,
// specific), and the repository's decisions for one model as a pure function: given the
// versions on disk and how each stands, what to load next, or which versions to keep and
// which to retire. RepositoryManager runs exactly this; tests drive it with tables.

public enum VersionPolicy: Sendable, Equatable, CustomStringConvertible {
    case latest(Int)
    case all
    case specific([Int])

    /// Where a version on disk stands.
    public enum Standing: Sendable, Equatable {
        /// Its current file has not been tried (new, or changed since it was).
        case untried
        /// It serves its current file.
        case ready
        /// Its current file failed to load.
        case failed
    }

    public enum Decision: Sendable, Equatable {
        /// Load this version next (then decide again).
        case load(Int)
        /// Serve `keep` (ascending) and take `retire` (ascending) out of service. When nothing the
        /// policy wants is ready, keep is empty and nothing is retired: whatever serves stays.
        case settle(keep: [Int], retire: [Int])
    }

    /// The next step for a model: versions are tried newest first until the policy has as many
    /// ready as it wants, so that latest(n) serves the n newest versions that load (a broken
    /// newest one falls back to the one before it rather than to nothing). `serving` are the
    /// versions ready now, on disk or not.
    public func decide(onDisk: [Int], standing: (Int) -> Standing, serving: Set<Int>) -> Decision {
        let (candidates, wanted) = candidates(onDisk)
        var keep: [Int] = []
        for version in candidates where keep.count < wanted {
            switch standing(version) {
            case .untried: return .load(version)
            case .ready: keep.append(version)
            case .failed: continue
            }
        }
        guard !keep.isEmpty else { return .settle(keep: [], retire: []) }
        return .settle(keep: keep.sorted(), retire: serving.subtracting(keep).sorted())
    }

    /// The versions served when every version on disk loads.
    public func select(_ available: [Int]) -> [Int] {
        guard case .settle(let keep, _) = decide(onDisk: available, standing: { _ in .ready }, serving: []) else { return [] }
        return keep
    }

    /// Whether the policy can select anything among `onDisk`.
    public func hasCandidates(_ onDisk: [Int]) -> Bool { !candidates(onDisk).newestFirst.isEmpty }

    /// The versions the policy may serve, newest first, and how many of them it wants ready.
    private func candidates(_ onDisk: [Int]) -> (newestFirst: [Int], wanted: Int) {
        let newestFirst = onDisk.sorted(by: >)
        switch self {
        case .latest(let n): return (newestFirst, n)
        case .all: return (newestFirst, Int.max)
        case .specific(let versions): return (newestFirst.filter(versions.contains), Int.max)
        }
    }

    public var description: String {
        switch self {
        case .latest(let n): return "latest(\(n))"
        case .all: return "all"
        case .specific(let v): return "specific(\(v.map(String.init).joined(separator: ", ")))"
        }
    }
}
