// MathFunctions: the few libm functions the kernels need, named once for Glibc and Darwin.

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

@inline(__always) func _exp(_ x: Float) -> Float { expf(x) }
@inline(__always) func _log(_ x: Double) -> Double { log(x) }
@inline(__always) func _cosine(_ x: Double) -> Double { cos(x) }
