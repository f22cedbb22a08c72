// winograd4.c: the transforms of Winograd F(4×4, 3×3) (see CKernels.h), Lavin & Gray's
// matrices with interpolation points 0, ±1, ±2, ∞. One macro body holds the arithmetic, used on
// scalars (the portable path, and every tile outside a run of 8) and on AVX2 vectors (8 tiles
// per instruction); both do the same operations in the same order, so they agree bit for bit.

#include "CKernels.h"
#include "avx2_common.h"

// Bᵀ applied to one 6-vector (x0 … x5) → (r0 … r5), in terms of ADD, SUB and MUL by a constant.
#define BT6(T, ADD, SUB, MULC, x0, x1, x2, x3, x4, x5, r)                          \
    do {                                                                             \
        T t1_ = SUB(x4, MULC(4.0f, x2)), t2_ = SUB(x3, MULC(4.0f, x1));              \
        T t3_ = SUB(x4, x2), t4_ = MULC(2.0f, SUB(x3, x1));                          \
        r[0] = ADD(SUB(MULC(4.0f, x0), MULC(5.0f, x2)), x4);                         \
        r[1] = ADD(t1_, t2_);                                                        \
        r[2] = SUB(t1_, t2_);                                                        \
        r[3] = ADD(t3_, t4_);                                                        \
        r[4] = SUB(t3_, t4_);                                                        \
        r[5] = ADD(SUB(MULC(4.0f, x1), MULC(5.0f, x3)), x5);                         \
    } while (0)

// Aᵀ applied to one 6-vector (x0 … x5) → (o0 … o3).
#define AT6(T, ADD, SUB, MULC, x0, x1, x2, x3, x4, x5, o)                           \
    do {                                                                             \
        T a_ = ADD(x1, x2), b_ = SUB(x1, x2), c_ = ADD(x3, x4), e_ = SUB(x3, x4);     \
        o[0] = ADD(ADD(x0, a_), c_);                                                 \
        o[1] = ADD(b_, MULC(2.0f, e_));                                              \
        o[2] = ADD(a_, MULC(4.0f, c_));                                              \
        o[3] = ADD(ADD(b_, MULC(8.0f, e_)), x5);                                     \
    } while (0)

// V for one tile whose patch starts at q.
static void input_one(const float *q, ptrdiff_t pw, float *out, ptrdiff_t plane) {
    float t[6][6], r[6];
    for (int c = 0; c < 6; c++) {   // Bᵀ d, column by column
        BT6(float, S_ADD, S_SUB, S_MULC, q[c], q[pw + c], q[2 * pw + c], q[3 * pw + c], q[4 * pw + c], q[5 * pw + c], r);
        for (int k = 0; k < 6; k++) t[k][c] = r[k];
    }
    for (int k = 0; k < 6; k++) {   // (Bᵀ d) B, row by row
        BT6(float, S_ADD, S_SUB, S_MULC, t[k][0], t[k][1], t[k][2], t[k][3], t[k][4], t[k][5], r);
        for (int l = 0; l < 6; l++) out[(6 * k + l) * plane] = r[l];
    }
}

// y for one tile: M at m (stride plane), written at y with the edges clipped to rows × cols.
static void output_one(const float *m, ptrdiff_t plane, float *y, ptrdiff_t w, int rows, int cols,
                       float bias, int relu) {
    float t[4][6], o[4];
    for (int c = 0; c < 6; c++) {   // Aᵀ M
        AT6(float, S_ADD, S_SUB, S_MULC, m[c * plane], m[(6 + c) * plane], m[(12 + c) * plane],
            m[(18 + c) * plane], m[(24 + c) * plane], m[(30 + c) * plane], o);
        for (int a = 0; a < 4; a++) t[a][c] = o[a];
    }
    for (int a = 0; a < rows; a++) {   // (Aᵀ M) A
        AT6(float, S_ADD, S_SUB, S_MULC, t[a][0], t[a][1], t[a][2], t[a][3], t[a][4], t[a][5], o);
        for (int b = 0; b < cols; b++) {
            float v = o[b] + bias;
            y[a * w + b] = relu ? (v < 0.0f ? 0.0f : v) : v;   // NaN stays NaN
        }
    }
}

#if defined(__x86_64__)
// V for 8 tiles with patches at q[0 … 7]: each patch row is loaded as 8 floats (6 used) and
// transposed, so that lane i of d[row][col] is tile i's element.
AVX2 static void input_eight(const float *const q[8], ptrdiff_t pw, float *out, ptrdiff_t plane) {
    __m256 d[6][8];
    for (int row = 0; row < 6; row++) {
        for (int i = 0; i < 8; i++) d[row][i] = _mm256_loadu_ps(q[i] + row * pw);
        transpose8(d[row]);
    }
    __m256 t[6][6], r[6];
    for (int c = 0; c < 6; c++) {
        BT6(__m256, V_ADD, V_SUB, V_MULC, d[0][c], d[1][c], d[2][c], d[3][c], d[4][c], d[5][c], r);
        for (int k = 0; k < 6; k++) t[k][c] = r[k];
    }
    for (int k = 0; k < 6; k++) {
        BT6(__m256, V_ADD, V_SUB, V_MULC, t[k][0], t[k][1], t[k][2], t[k][3], t[k][4], t[k][5], r);
        for (int l = 0; l < 6; l++) _mm256_storeu_ps(out + (6 * k + l) * plane, r[l]);
    }
}

// y for 8 whole tiles (M for tile i in lane i of m's 36 planes), tile i's output at y[i].
AVX2 static void output_eight(const float *m, ptrdiff_t plane, float *const y[8], ptrdiff_t w, float bias, int relu) {
    __m256 t[4][6], o[4];
    for (int c = 0; c < 6; c++) {
        AT6(__m256, V_ADD, V_SUB, V_MULC, _mm256_loadu_ps(m + c * plane), _mm256_loadu_ps(m + (6 + c) * plane),
            _mm256_loadu_ps(m + (12 + c) * plane), _mm256_loadu_ps(m + (18 + c) * plane),
            _mm256_loadu_ps(m + (24 + c) * plane), _mm256_loadu_ps(m + (30 + c) * plane), o);
        for (int a = 0; a < 4; a++) t[a][c] = o[a];
    }
    const __m256 b = _mm256_set1_ps(bias), zero = _mm256_setzero_ps();
    for (int a = 0; a < 4; a++) {
        __m256 rows[8];
        AT6(__m256, V_ADD, V_SUB, V_MULC, t[a][0], t[a][1], t[a][2], t[a][3], t[a][4], t[a][5], o);
        for (int k = 0; k < 4; k++) {
            rows[k] = _mm256_add_ps(o[k], b);
            // max(0, x) returns x when x is NaN, like the scalar path's (v < 0 ? 0 : v).
            if (relu) rows[k] = _mm256_max_ps(zero, rows[k]);
            rows[4 + k] = zero;
        }
        transpose8(rows);   // rows[i] lanes 0…3: tile i's output row a
        for (int i = 0; i < 8; i++) _mm_storeu_ps(y[i] + a * w, _mm256_castps256_ps128(rows[i]));
    }
}
#endif

void rs_winograd4_input(const float *padded, ptrdiff_t pw, const ptrdiff_t *patch, ptrdiff_t count,
                        float *out, ptrdiff_t plane, int avx2) {
    ptrdiff_t j = 0;
#if defined(__x86_64__)
    if (avx2) {
        for (; j + 8 <= count; j += 8) {
            const float *q[8];
            for (int i = 0; i < 8; i++) q[i] = padded + patch[j + i];
            input_eight(q, pw, out + j, plane);
        }
    }
#else
    (void)avx2;
#endif
    for (; j < count; j++) input_one(padded + patch[j], pw, out + j, plane);
}

void rs_winograd4_output(const float *m, ptrdiff_t plane, const ptrdiff_t *at, const unsigned char *extent,
                         ptrdiff_t count, float *y, ptrdiff_t w, float bias, int relu, int avx2) {
    ptrdiff_t j = 0;
#if defined(__x86_64__)
    if (avx2) {
        while (j + 8 <= count) {
            int whole = 1;
            for (int i = 0; i < 8; i++) whole &= extent[j + i] == 36;
            if (whole) {
                float *dst[8];
                for (int i = 0; i < 8; i++) dst[i] = y + at[j + i];
                output_eight(m + j, plane, dst, w, bias, relu);
                j += 8;
            } else {   // an edge tile among them: this one alone, then try 8 again
                output_one(m + j, plane, y + at[j], w, extent[j] & 7, extent[j] >> 3, bias, relu);
                j += 1;
            }
        }
    }
#else
    (void)avx2;
#endif
    for (; j < count; j++) output_one(m + j, plane, y + at[j], w, extent[j] & 7, extent[j] >> 3, bias, relu);
}
