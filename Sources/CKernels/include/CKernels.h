// CKernels: hand-vectorised AVX2 inner loops for the Winograd transforms, F(2×2, 3×3) and
// F(4×4, 3×3), forward and weight gradient (Sources/Tensor/Winograd*.swift), chosen at run time
// when the CPU has AVX2 and FMA.
//
// Swift code is compiled for baseline x86-64 (SSE2), so its SIMD types give 4-lane code; these
// loops handle 8 tiles per instruction. Each function is the same arithmetic as the Swift
// version it replaces for a run of whole tiles; the Swift code keeps every edge case.
#ifndef REVSERVE_CKERNELS_H
#define REVSERVE_CKERNELS_H

#include <stddef.h>

/// 1 if this CPU runs the AVX2 + FMA kernels below, else 0 (then never call them).
int rs_winograd_avx2_available(void);

/// Input transform V = Bᵀ d B of `groups` × 8 side-by-side tiles. `q` is the top-left of the
/// first tile's 4×4 patch in a zero-bordered plane with row stride `pw` (tile i's patch starts
/// 2·i floats further); lane i of ξ plane k goes to out[k·plane + i] (the next group of 8 to
/// out + 8).
void rs_winograd_input_avx2(const float *q, ptrdiff_t pw, ptrdiff_t groups, float *out, ptrdiff_t plane);

/// Output transform y = Aᵀ M A + bias (then max(·, 0) with `relu`, NaN kept) of `groups` × 8
/// side-by-side tiles: M for tile i, ξ k is m[k·plane + i]; tile i writes y[2i], y[2i + 1] and
/// the same two a row (`w` floats) below.
void rs_winograd_output_avx2(const float *m, ptrdiff_t plane, ptrdiff_t groups, float *y, ptrdiff_t w,
                             float bias, int relu);

/// Winograd F(4×4, 3×3), input side: V = Bᵀ d B for `count` tiles whose 6×6 patches start at
/// padded + patch[j] (zero-bordered planes, row stride `pw`, at least two floats of slack after
/// each patch row); tile j, ξ k goes to out[k·plane + j]. With `avx2` (only if
/// rs_winograd_avx2_available), 8 tiles at a time, wherever they are.
void rs_winograd4_input(const float *padded, ptrdiff_t pw, const ptrdiff_t *patch, ptrdiff_t count,
                        float *out, ptrdiff_t plane, int avx2);

/// Winograd F(4×4, 3×3), output side: y = Aᵀ M A + bias (then ReLU with `relu`, NaN kept) for
/// `count` tiles, M for tile j, ξ k at m[k·plane + j]; tile j writes the top-left rows × cols
/// of its 4×4 at y + at[j] (row stride w), with extent[j] = rows + 8·cols (whole tile: 36).
void rs_winograd4_output(const float *m, ptrdiff_t plane, const ptrdiff_t *at, const unsigned char *extent,
                         ptrdiff_t count, float *y, ptrdiff_t w, float bias, int relu, int avx2);

/// Winograd weight gradient, output side: dM = A dY Aᵀ (the adjoint of the output transform) of
/// F(2×2, 3×3) (`tile` 2: 16 ξ planes) or F(4×4, 3×3) (`tile` 4: 36) for `count` tiles whose
/// tile × tile blocks of dY start at padded + patch[j] (row stride `pw`, zero beyond the image,
/// at least 8 − tile floats of slack after each block row); tile j, ξ k goes to
/// out[k·plane + j]. With `avx2` (only if rs_winograd_avx2_available), 8 tiles at a time.
void rs_winograd_gradient(int tile, const float *padded, ptrdiff_t pw, const ptrdiff_t *patch, ptrdiff_t count,
                          float *out, ptrdiff_t plane, int avx2);

#endif
