// NetworkState: what one network keeps between engine calls, owned by it and freed with it (a
// loaded model version is one network): its inference workspace (kept weight transforms and
// scratch buffers) and the model handles plugin architectures make for it. Retiring a model
// frees exactly this; other networks keep theirs.

import Locking
import Tensor

public final class NetworkState: Sendable {
    /// The network's shape, for the handles plugins make (rs_model_config).
    public let config: NetworkConfig
    /// Where inference keeps this network's weight transforms and finds its scratch buffers.
    public let workspace = KernelWorkspace(weightBudgetBytes: KernelWorkspace.inferenceWeightBudgetBytes)
    private let handles = Locked<[ObjectIdentifier: any Sendable]>([:])

    init(_ config: NetworkConfig) {
        self.config = config
    }

    /// The handle `owner` (a plugin library) keeps for this network, made on first use.
    public func handle<Handle: AnyObject & Sendable>(for owner: AnyObject, make: () throws(TensorError) -> Handle) throws(TensorError) -> Handle {
        let key = ObjectIdentifier(owner)
        if let found = handles.withLock({ $0[key] }) as? Handle { return found }
        let made = try make()
        // Two threads may have made one each: the first stored wins, the other is dropped.
        return handles.withLock { h in
            if let found = h[key] as? Handle { return found }
            h[key] = made
            return made
        }
    }
}
