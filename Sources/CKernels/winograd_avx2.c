// winograd_avx2.c: AVX2 + FMA loops for the Winograd F(2×2, 3×3) transforms (see CKernels.h).
// Compiled for baseline x86-64 like everything else; only these functions carry the AVX2
// target attribute, and callers check rs_winograd_avx2_available first.

#include "CKernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

int rs_winograd_avx2_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

#define AVX2 __attribute__((target("avx2,fma")))

// Elements 0, 2, …, 14 (even) or 1, 3, …, 15 (odd) of the 16 floats a ‖ b.
AVX2 static inline __m256 even_of(__m256 a, __m256 b) {
    __m256 t = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));   // a0 a2 b0 b2 | a4 a6 b4 b6
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(t), _MM_SHUFFLE(3, 1, 2, 0)));
}
AVX2 static inline __m256 odd_of(__m256 a, __m256 b) {
    __m256 t = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(t), _MM_SHUFFLE(3, 1, 2, 0)));
}

AVX2 void rs_winograd_input_avx2(const float *q, ptrdiff_t pw, ptrdiff_t groups, float *out, ptrdiff_t plane) {
    for (ptrdiff_t g = 0; g < groups; g++, q += 16, out += 8) {
        // d[r][c]: column c of patch row r for the 8 tiles (tile i's column c is q[2i + c]).
        __m256 d[4][4];
        for (int r = 0; r < 4; r++) {
            const float *row = q + r * pw;
            __m256 a = _mm256_loadu_ps(row), b = _mm256_loadu_ps(row + 8);
            __m256 c = _mm256_loadu_ps(row + 2), e = _mm256_loadu_ps(row + 10);
            d[r][0] = even_of(a, b); d[r][1] = odd_of(a, b);
            d[r][2] = even_of(c, e); d[r][3] = odd_of(c, e);
        }
        // Bᵀ d: rows d0 − d2, d1 + d2, d2 − d1, d1 − d3; then the same on each row's columns.
        for (int col = 0; col < 4; col++) {
            __m256 t0 = _mm256_sub_ps(d[0][col], d[2][col]), t1 = _mm256_add_ps(d[1][col], d[2][col]);
            __m256 t2 = _mm256_sub_ps(d[2][col], d[1][col]), t3 = _mm256_sub_ps(d[1][col], d[3][col]);
            d[0][col] = t0; d[1][col] = t1; d[2][col] = t2; d[3][col] = t3;
        }
        for (int r = 0; r < 4; r++) {
            float *o = out + 4 * r * plane;
            _mm256_storeu_ps(o, _mm256_sub_ps(d[r][0], d[r][2]));
            _mm256_storeu_ps(o + plane, _mm256_add_ps(d[r][1], d[r][2]));
            _mm256_storeu_ps(o + 2 * plane, _mm256_sub_ps(d[r][2], d[r][1]));
            _mm256_storeu_ps(o + 3 * plane, _mm256_sub_ps(d[r][1], d[r][3]));
        }
    }
}

AVX2 void rs_winograd_output_avx2(const float *m, ptrdiff_t plane, ptrdiff_t groups, float *y, ptrdiff_t w,
                                  float bias, int relu) {
    const __m256 b = _mm256_set1_ps(bias), zero = _mm256_setzero_ps();
    for (ptrdiff_t g = 0; g < groups; g++, m += 8, y += 16) {
        __m256 at[16];
        for (int k = 0; k < 16; k++) at[k] = _mm256_loadu_ps(m + k * plane);
        // Aᵀ M: s0 = m0 + m1 + m2, s1 = m1 − m2 − m3 (rows of 4); then · A on each.
        __m256 s0[4], s1[4];
        for (int c = 0; c < 4; c++) {
            s0[c] = _mm256_add_ps(_mm256_add_ps(at[c], at[4 + c]), at[8 + c]);
            s1[c] = _mm256_sub_ps(_mm256_sub_ps(at[4 + c], at[8 + c]), at[12 + c]);
        }
        __m256 o00 = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(s0[0], s0[1]), s0[2]), b);
        __m256 o01 = _mm256_add_ps(_mm256_sub_ps(_mm256_sub_ps(s0[1], s0[2]), s0[3]), b);
        __m256 o10 = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(s1[0], s1[1]), s1[2]), b);
        __m256 o11 = _mm256_add_ps(_mm256_sub_ps(_mm256_sub_ps(s1[1], s1[2]), s1[3]), b);
        if (relu) {
            // max(0, x) returns x when x is NaN (the second operand), as the Swift path does.
            o00 = _mm256_max_ps(zero, o00); o01 = _mm256_max_ps(zero, o01);
            o10 = _mm256_max_ps(zero, o10); o11 = _mm256_max_ps(zero, o11);
        }
        // Interleave each tile's two columns: o00₀ o01₀ o00₁ o01₁ … across 16 outputs.
        __m256 lo = _mm256_unpacklo_ps(o00, o01), hi = _mm256_unpackhi_ps(o00, o01);
        _mm256_storeu_ps(y, _mm256_permute2f128_ps(lo, hi, 0x20));
        _mm256_storeu_ps(y + 8, _mm256_permute2f128_ps(lo, hi, 0x31));
        lo = _mm256_unpacklo_ps(o10, o11); hi = _mm256_unpackhi_ps(o10, o11);
        _mm256_storeu_ps(y + w, _mm256_permute2f128_ps(lo, hi, 0x20));
        _mm256_storeu_ps(y + w + 8, _mm256_permute2f128_ps(lo, hi, 0x31));
    }
}

#else
int rs_winograd_avx2_available(void) { return 0; }
void rs_winograd_input_avx2(const float *q, ptrdiff_t pw, ptrdiff_t groups, float *out, ptrdiff_t plane) {
    (void)q; (void)pw; (void)groups; (void)out; (void)plane;
}
void rs_winograd_output_avx2(const float *m, ptrdiff_t plane, ptrdiff_t groups, float *y, ptrdiff_t w,
                             float bias, int relu) {
    (void)m; (void)plane; (void)groups; (void)y; (void)w; (void)bias; (void)relu;
}
#endif
