/* tanh_hamiltonian.c: a revserve architecture plugin in plain C, for the tests: it proves the
 * ABI in revserve_plugin.h is language-neutral. Architecture "ctanh": the Hamiltonian block
 * with tanh in place of ReLU,
 *     forward:  Y <- Y + h K1^T tanh(K1 Z + b1);  Z <- Z - h K2^T tanh(K2 Y + b2)
 *     inverse:  Z <- Z + h K2^T tanh(K2 Y + b2);  Y <- Y - h K1^T tanh(K1 Z + b1)
 * with naive 3x3 convolutions (stride 1, zero padding 1). It serves only: backward and the
 * gradients of enter/exit answer RS_UNSUPPORTED, and no tape is kept.
 * Build: cc -shared -fPIC -O2 -I Sources/PluginABI/include tanh_hamiltonian.c -o libctanh.so -lm
 * Define RS_TEST_ABI_MAJOR to claim another ABI major (the host must refuse it),
 * RS_TEST_NAME to register under another name (tests running side by side in one process), and
 * RS_TEST_ABI_1_0 to declare ABI 1.0 with trapping functions in the fields 1.1 and 1.2 added. */
#include "revserve_plugin.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef RS_TEST_NAME
#define RS_TEST_NAME "ctanh"
#endif

#ifndef RS_TEST_ABI_MAJOR
#define RS_TEST_ABI_MAJOR REVSERVE_PLUGIN_ABI_MAJOR
#endif

struct rs_tensors {
    int32_t count;
    rs_tensor_view views[4];
};

static rs_status fail(rs_error *error, rs_status status, const char *message) {
    if (error) snprintf(error->message, sizeof error->message, "%s", message);
    return status;
}

static int64_t elements(const int64_t *shape, int32_t rank) {
    int64_t n = 1;
    for (int32_t i = 0; i < rank; i++) n *= shape[i];
    return n;
}

/* A new list of `count` rank-4 tensors of the same shape, zeroed. */
static rs_tensors *new_list(int32_t count, const int64_t shape[4]) {
    rs_tensors *list = calloc(1, sizeof *list);
    if (!list) return NULL;
    list->count = count;
    for (int32_t i = 0; i < count; i++) {
        list->views[i].rank = 4;
        memcpy(list->views[i].shape, shape, 4 * sizeof(int64_t));
        list->views[i].data = calloc((size_t)elements(shape, 4), sizeof(float));
    }
    return list;
}

static float *mutable_data(rs_tensors *list, int32_t i) { return (float *)list->views[i].data; }

/* out = conv(x, K) + b, x (N, C, H, W), K (C, C, 3, 3). */
static void conv(const float *x, const float *k, const float *b, float *out, const int64_t s[4]) {
    int64_t n = s[0], c = s[1], h = s[2], w = s[3];
    for (int64_t i = 0; i < n; i++)
        for (int64_t o = 0; o < c; o++)
            for (int64_t y = 0; y < h; y++)
                for (int64_t x0 = 0; x0 < w; x0++) {
                    float acc = b ? b[o] : 0;
                    for (int64_t ci = 0; ci < c; ci++)
                        for (int64_t dy = 0; dy < 3; dy++)
                            for (int64_t dx = 0; dx < 3; dx++) {
                                int64_t yy = y + dy - 1, xx = x0 + dx - 1;
                                if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
                                acc += k[((o * c + ci) * 3 + dy) * 3 + dx] * x[((i * c + ci) * h + yy) * w + xx];
                            }
                    out[((i * c + o) * h + y) * w + x0] = acc;
                }
}

/* out += scale * conv^T(a, K): the adjoint of conv without bias. */
static void conv_transpose_add(const float *a, const float *k, float scale, float *out, const int64_t s[4]) {
    int64_t n = s[0], c = s[1], h = s[2], w = s[3];
    for (int64_t i = 0; i < n; i++)
        for (int64_t o = 0; o < c; o++)
            for (int64_t y = 0; y < h; y++)
                for (int64_t x0 = 0; x0 < w; x0++) {
                    float v = scale * a[((i * c + o) * h + y) * w + x0];
                    if (v == 0) continue;
                    for (int64_t ci = 0; ci < c; ci++)
                        for (int64_t dy = 0; dy < 3; dy++)
                            for (int64_t dx = 0; dx < 3; dx++) {
                                int64_t yy = y + dy - 1, xx = x0 + dx - 1;
                                if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
                                out[((i * c + ci) * h + yy) * w + xx] += v * k[((o * c + ci) * 3 + dy) * 3 + dx];
                            }
                }
}

/* target += sign * h * K^T tanh(K source + b). */
static void step(float *target, const float *source, const rs_tensor_in *k, const rs_tensor_in *b, float sign_h,
                 const int64_t s[4]) {
    size_t count = (size_t)elements(s, 4);
    float *a = malloc(count * sizeof(float));
    conv(source, k->data, b->data, a, s);
    for (size_t i = 0; i < count; i++) a[i] = tanhf(a[i]);
    conv_transpose_add(a, k->data, sign_h, target, s);
    free(a);
}

static int32_t parameter_count(int64_t width) { (void)width; return 4; }

static rs_status parameter(int64_t width, int32_t index, rs_parameter_spec *out, rs_error *error) {
    static const char *names[4] = {"K1", "K2", "b1", "b2"};
    if (index < 0 || index > 3) return fail(error, RS_INVALID_ARGUMENT, "ctanh blocks have 4 parameters");
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "%s", names[index]);
    int64_t c = width / 2;
    if (index < 2) {
        out->rank = 4;
        out->shape[0] = c; out->shape[1] = c; out->shape[2] = 3; out->shape[3] = 3;
        out->role = RS_ROLE_CONVOLUTION_WEIGHT;
    } else {
        out->rank = 1;
        out->shape[0] = c;
        out->role = RS_ROLE_BIAS;
    }
    return RS_OK;
}

static rs_status check_widths(const int64_t *widths, int32_t units, rs_error *error) {
    for (int32_t u = 0; u < units; u++)
        if (widths[u] % 2) return fail(error, RS_INVALID_ARGUMENT, "ctanh unit widths must be even");
    for (int32_t u = 1; u < units; u++)
        if ((widths[u] - widths[u - 1]) % 4) return fail(error, RS_INVALID_ARGUMENT, "ctanh widths must differ by multiples of 4");
    return RS_OK;
}

static double flops(int64_t width, int64_t pixels) { double c = (double)(width / 2); return 8 * c * c * 9 * (double)pixels; }

/* Unit input x (N, C, H, W) -> state [Y, Z], the two channel halves. */
static rs_status enter(const rs_tensor_in *x, rs_tensors **state, rs_error *error) {
    if (x->rank != 4 || x->shape[1] % 2) return fail(error, RS_INVALID_ARGUMENT, "ctanh needs an even channel count");
    int64_t half[4] = {x->shape[0], x->shape[1] / 2, x->shape[2], x->shape[3]};
    rs_tensors *list = new_list(2, half);
    int64_t plane = half[2] * half[3], c = half[1];
    for (int64_t n = 0; n < half[0]; n++)
        for (int32_t p = 0; p < 2; p++)
            memcpy(mutable_data(list, p) + n * c * plane, x->data + (n * 2 * c + p * c) * plane, (size_t)(c * plane) * sizeof(float));
    *state = list;
    return RS_OK;
}

static rs_status exit_(const rs_tensor_in *state, int32_t parts, rs_tensors **x, rs_error *error) {
    if (parts != 2) return fail(error, RS_INVALID_ARGUMENT, "ctanh states have two parts");
    int64_t whole[4] = {state[0].shape[0], 2 * state[0].shape[1], state[0].shape[2], state[0].shape[3]};
    rs_tensors *list = new_list(1, whole);
    int64_t plane = whole[2] * whole[3], c = state[0].shape[1];
    for (int64_t n = 0; n < whole[0]; n++)
        for (int32_t p = 0; p < 2; p++)
            memcpy(mutable_data(list, 0) + (n * 2 * c + p * c) * plane, state[p].data + n * c * plane, (size_t)(c * plane) * sizeof(float));
    *x = list;
    return RS_OK;
}

static rs_status unsupported_gradient(const rs_tensor_in *a, const rs_tensor_in *b, int32_t parts, rs_tensors **out, rs_error *error) {
    (void)a; (void)b; (void)parts; (void)out;
    return fail(error, RS_UNSUPPORTED, "the ctanh test plugin only serves (no gradients)");
}

static rs_status unsupported_enter_gradient(const rs_tensor_in *a, int32_t parts, rs_tensors **out, rs_error *error) {
    return unsupported_gradient(a, NULL, parts, out, error);
}

/* Copies the two state parts into a new list, then applies the block (direction +1 forward, -1 inverse). */
static rs_status block(rs_block_call *call, const rs_tensor_in *state, int32_t parts, rs_tensors **out, rs_tape **tape,
                       rs_error *error, int direction) {
    if (parts != 2 || call->parameter_count != 4) return fail(error, RS_INVALID_ARGUMENT, "ctanh blocks take [Y, Z] and 4 parameters");
    const int64_t *s = state[0].shape;
    if (call->parameters[0].shape[0] != s[1]) return fail(error, RS_INVALID_ARGUMENT, "ctanh: K1 does not match the state's channels");
    rs_tensors *list = new_list(2, s);
    size_t count = (size_t)elements(s, 4);
    memcpy(mutable_data(list, 0), state[0].data, count * sizeof(float));
    memcpy(mutable_data(list, 1), state[1].data, count * sizeof(float));
    float *y = mutable_data(list, 0), *z = mutable_data(list, 1);
    const rs_tensor_in *k1 = &call->parameters[0], *k2 = &call->parameters[1], *b1 = &call->parameters[2], *b2 = &call->parameters[3];
    if (direction > 0) {
        step(y, z, k1, b1, call->h, s);
        step(z, y, k2, b2, -call->h, s);
    } else {
        step(z, y, k2, b2, call->h, s);
        step(y, z, k1, b1, -call->h, s);
    }
    call->evaluations = 2;
    *out = list;
    if (tape) *tape = NULL;
    return RS_OK;
}

static rs_status forward(rs_block_call *call, const rs_tensor_in *state, int32_t parts, rs_tensors **out, rs_tape **tape, rs_error *error) {
    return block(call, state, parts, out, tape, error, +1);
}

static rs_status reconstruct(rs_block_call *call, const rs_tensor_in *output, int32_t parts, rs_tensors **input, rs_tape **tape, rs_error *error) {
    return block(call, output, parts, input, tape, error, -1);
}

static rs_status backward(rs_block_call *call, const rs_tape *tape, const rs_tensor_in *gradient, int32_t parts,
                          float *const *gradients, rs_tensors **input_gradient, rs_error *error) {
    (void)call; (void)tape; (void)gradient; (void)parts; (void)gradients; (void)input_gradient;
    return fail(error, RS_UNSUPPORTED, "the ctanh test plugin only serves (no backward)");
}

static int32_t tensors_count(const rs_tensors *list) { return list->count; }
static rs_tensor_view tensors_get(const rs_tensors *list, int32_t index) { return list->views[index]; }
static void tensors_free(rs_tensors *list) {
    if (!list) return;
    for (int32_t i = 0; i < list->count; i++) free((void *)list->views[i].data);
    free(list);
}
static int64_t tape_bytes(const rs_tape *tape) { (void)tape; return 0; }
static void tape_free(rs_tape *tape) { (void)tape; }

#ifdef RS_TEST_ABI_1_0
/* Built as an ABI 1.0 plugin: it declares minor 0, and the fields 1.1 and 1.2 added hold
 * functions that abort, so a host that reads past what minor 0 declares brings the test
 * process down. */
static void trap_release(void) { abort(); }
static rs_status trap_blocks(rs_block_call *c, int32_t n, const rs_tensor_in *s, int32_t p, rs_tensors **o, rs_error *e) {
    (void)c; (void)n; (void)s; (void)p; (void)o; (void)e;
    abort();
}
static rs_status trap_unit(rs_block_call *c, int32_t n, const rs_tensor_in *x, rs_tensors **o, rs_error *e) {
    (void)c; (void)n; (void)x; (void)o; (void)e;
    abort();
}
#define RS_TEST_ABI_MINOR 0
#else
#define RS_TEST_ABI_MINOR REVSERVE_PLUGIN_ABI_MINOR
#endif

static const rs_plugin table = {
    .abi_major = RS_TEST_ABI_MAJOR,
    .abi_minor = RS_TEST_ABI_MINOR,
    .name = RS_TEST_NAME,
    .description = "Hamiltonian blocks with tanh, in plain C (test plugin)",
    .functions_per_block = 2,
    .transition_groups = 2,
    .block_parameter_count = parameter_count,
    .block_parameter = parameter,
    .check_widths = check_widths,
    .block_flops = flops,
    .enter = enter,
    .exit = exit_,
    .exit_gradient = unsupported_gradient,
    .enter_gradient = unsupported_enter_gradient,
    .forward = forward,
    .reconstruct = reconstruct,
    .backward = backward,
    .tensors_count = tensors_count,
    .tensors_get = tensors_get,
    .tensors_free = tensors_free,
    .tape_bytes = tape_bytes,
    .tape_free = tape_free,
#ifdef RS_TEST_ABI_1_0
    .release_caches = trap_release,
    .forward_blocks = trap_blocks,
    .forward_unit = trap_unit,
#endif
};

const rs_plugin *revserve_plugin_entry(uint32_t host_abi_major, uint32_t host_abi_minor) {
    (void)host_abi_major; (void)host_abi_minor;
    return &table;
}
