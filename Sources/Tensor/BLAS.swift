// BLAS: the one place that calls OpenBLAS. Row-major sgemm on raw pointers, and the thread policy.

import CBLAS

public enum BLAS {
    /// Switches OpenBLAS's internal threading off once per process: revserve parallelises over the
    /// batch itself, and two layers of threads on the same cores only slow each other down.
    static let singleThreaded: Void = { openblas_set_num_threads(1) }()

    /// C ← alpha · op(A) · op(B) + beta · C, all row-major; op(A) is m×k, op(B) is k×n, C is m×n.
    @inline(__always)
    public static func sgemm(transA: Bool = false, transB: Bool = false,
                             m: Int, n: Int, k: Int, alpha: Float = 1,
                             a: UnsafePointer<Float>, lda: Int,
                             b: UnsafePointer<Float>, ldb: Int,
                             beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        _ = singleThreaded
        cblas_sgemm(CblasRowMajor,
                    transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    blasint(m), blasint(n), blasint(k), alpha,
                    a, blasint(lda), b, blasint(ldb), beta, c, blasint(ldc))
    }
}
