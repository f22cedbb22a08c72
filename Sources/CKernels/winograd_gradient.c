// winograd_gradient.c: the output-gradient transform dM = A dY Aᵀ of Winograd F(2×2, 3×3) and
// F(4×4, 3×3) (see CKernels.h), the adjoint of the output transform y = Aᵀ M A, which the
// weight gradient needs. As in winograd4.c, one macro body holds the arithmetic for scalars and
// for AVX2 vectors (8 tiles per instruction), so both paths agree bit for bit.

#include "CKernels.h"
#include "avx2_common.h"

#define S_NEG(a) (-(a))

// F(2×2, 3×3)'s A (4 × 2) applied to one 2-vector: (g0, g0 + g1, g0 − g1, −g1).
#define A2(T, ADD, SUB, NEG, g0, g1, r)                                              \
    do {                                                                             \
        r[0] = (g0);                                                                 \
        r[1] = ADD(g0, g1);                                                          \
        r[2] = SUB(g0, g1);                                                          \
        r[3] = NEG(g1);                                                              \
    } while (0)

// F(4×4, 3×3)'s A (6 × 4), the transpose of winograd4.c's Aᵀ, applied to one 4-vector:
// rows (1 0 0 0), (1 1 1 1), (1 −1 1 −1), (1 2 4 8), (1 −2 4 −8), (0 0 0 1).
#define A4(T, ADD, SUB, MULC, g0, g1, g2, g3, r)                                     \
    do {                                                                             \
        T p_ = ADD(g0, g2), q_ = ADD(g1, g3);                                        \
        T u_ = ADD(g0, MULC(4.0f, g2)), v_ = ADD(MULC(2.0f, g1), MULC(8.0f, g3));    \
        r[0] = (g0);                                                                 \
        r[1] = ADD(p_, q_);                                                          \
        r[2] = SUB(p_, q_);                                                          \
        r[3] = ADD(u_, v_);                                                          \
        r[4] = SUB(u_, v_);                                                          \
        r[5] = (g3);                                                                 \
    } while (0)

// dM for one tile whose dY block starts at q: columns first (A dY), then rows (· Aᵀ);
// ξ = (tile + 2) · row + column, as the forward transforms number them.
static void gradient_one(int tile, const float *q, ptrdiff_t pw, float *out, ptrdiff_t plane) {
    if (tile == 2) {
        float t[4][2], r[4];
        for (int b = 0; b < 2; b++) {
            A2(float, S_ADD, S_SUB, S_NEG, q[b], q[pw + b], r);
            for (int k = 0; k < 4; k++) t[k][b] = r[k];
        }
        for (int k = 0; k < 4; k++) {
            A2(float, S_ADD, S_SUB, S_NEG, t[k][0], t[k][1], r);
            for (int l = 0; l < 4; l++) out[(4 * k + l) * plane] = r[l];
        }
    } else {
        float t[6][4], r[6];
        for (int b = 0; b < 4; b++) {
            A4(float, S_ADD, S_SUB, S_MULC, q[b], q[pw + b], q[2 * pw + b], q[3 * pw + b], r);
            for (int k = 0; k < 6; k++) t[k][b] = r[k];
        }
        for (int k = 0; k < 6; k++) {
            A4(float, S_ADD, S_SUB, S_MULC, t[k][0], t[k][1], t[k][2], t[k][3], r);
            for (int l = 0; l < 6; l++) out[(6 * k + l) * plane] = r[l];
        }
    }
}

#if defined(__x86_64__)
// Flips the sign bit, as scalar negation does (0 − x would turn −0 into +0).
#define V_NEG(a) _mm256_xor_ps(a, _mm256_set1_ps(-0.0f))

// dM for 8 tiles with dY blocks at q[0 … 7]: each block row is loaded as 8 floats (tile used)
// and transposed, so that lane i of d[row][col] is tile i's element.
AVX2 static void gradient_eight(int tile, const float *const q[8], ptrdiff_t pw, float *out, ptrdiff_t plane) {
    __m256 d[4][8];
    for (int row = 0; row < tile; row++) {
        for (int i = 0; i < 8; i++) d[row][i] = _mm256_loadu_ps(q[i] + row * pw);
        transpose8(d[row]);
    }
    if (tile == 2) {
        __m256 t[4][2], r[4];
        for (int b = 0; b < 2; b++) {
            A2(__m256, V_ADD, V_SUB, V_NEG, d[0][b], d[1][b], r);
            for (int k = 0; k < 4; k++) t[k][b] = r[k];
        }
        for (int k = 0; k < 4; k++) {
            A2(__m256, V_ADD, V_SUB, V_NEG, t[k][0], t[k][1], r);
            for (int l = 0; l < 4; l++) _mm256_storeu_ps(out + (4 * k + l) * plane, r[l]);
        }
    } else {
        __m256 t[6][4], r[6];
        for (int b = 0; b < 4; b++) {
            A4(__m256, V_ADD, V_SUB, V_MULC, d[0][b], d[1][b], d[2][b], d[3][b], r);
            for (int k = 0; k < 6; k++) t[k][b] = r[k];
        }
        for (int k = 0; k < 6; k++) {
            A4(__m256, V_ADD, V_SUB, V_MULC, t[k][0], t[k][1], t[k][2], t[k][3], r);
            for (int l = 0; l < 6; l++) _mm256_storeu_ps(out + (6 * k + l) * plane, r[l]);
        }
    }
}
#endif

void rs_winograd_gradient(int tile, const float *padded, ptrdiff_t pw, const ptrdiff_t *patch, ptrdiff_t count,
                          float *out, ptrdiff_t plane, int avx2) {
    ptrdiff_t j = 0;
#if defined(__x86_64__)
    if (avx2) {
        for (; j + 8 <= count; j += 8) {
            const float *q[8];
            for (int i = 0; i < 8; i++) q[i] = padded + patch[j + i];
            gradient_eight(tile, q, pw, out + j, plane);
        }
    }
#else
    (void)avx2;
#endif
    for (; j < count; j++) gradient_one(tile, padded + patch[j], pw, out + j, plane);
}
