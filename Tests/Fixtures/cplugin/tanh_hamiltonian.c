/* tanh_hamiltonian.c: a revserve architecture plugin in plain C, for the tests: it proves the
 * ABI 2.0 in revserve_plugin.h is language-neutral. Architecture "ctanh": the Hamiltonian
 * block with tanh in place of ReLU,
 *     forward:  Y <- Y + h K1^T tanh(K1 Z + b1);  Z <- Z - h K2^T tanh(K2 Y + b2)
 *     inverse:  Z <- Z + h K2^T tanh(K2 Y + b2);  Y <- Y - h K1^T tanh(K1 Z + b1)
 * with naive 3x3 convolutions (stride 1, zero padding 1). The state is [Y, Z], the two channel
 * halves of the unit's input x.
 *
 * ABI 2.0 usage: model_create copies the network's config (units, widths, blocks, h) into an
 * rs_model, which also holds a scratch buffer grown as needed and reused across calls (under
 * the handle's mutex: the host may call on one handle from several threads); model_destroy
 * frees it all. forward runs run->count
 * blocks of run->unit from run->first_block, entering from x first with
 * RS_RUN_FROM_UNIT_INPUT and exiting to the unit's output after with RS_RUN_TO_UNIT_OUTPUT;
 * reconstruct inverts a one-block run. Nothing is derived from the parameters, so
 * parameters_generation is not used. It serves only: backward and the gradients of enter/exit
 * answer RS_UNSUPPORTED, and no tape is kept (tape slots are set to NULL).
 * Besides the entry symbol it exports `int64_t ctanh_live_models(void)`, the number of model
 * handles created and not yet destroyed, so that a test can check every handle is destroyed.
 *
 * Build (from the repository root): cc -shared -fPIC -O2 -I Sources/PluginABI/include \
 *     Tests/Fixtures/cplugin/tanh_hamiltonian.c -o libctanh.so -lm -lpthread
 * Options:
 *   -DRS_TEST_NAME='"name"'   register under another name (tests side by side in one process).
 *   -DRS_TEST_ABI_MAJOR=n     be a plugin built for ABI major n: the entry answers NULL to a host
 *                             of any other major, else its table, declaring major n.
 *   -DRS_TEST_CLAIM_MAJOR=n   a plugin that declares major n whatever the host: the entry answers
 *                             its table to any host, with abi_major n (the host must refuse it,
 *                             naming both versions). Overrides RS_TEST_ABI_MAJOR. */
#include "revserve_plugin.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef RS_TEST_NAME
#define RS_TEST_NAME "ctanh"
#endif

#ifndef RS_TEST_ABI_MAJOR
#define RS_TEST_ABI_MAJOR REVSERVE_PLUGIN_ABI_MAJOR
#endif

#define CTANH_EXPORT __attribute__((visibility("default")))

CTANH_EXPORT int64_t ctanh_live_models(void);
CTANH_EXPORT const rs_plugin *revserve_plugin_entry(uint32_t host_abi_major, uint32_t host_abi_minor);

enum { PARAMETERS = 4, PARTS = 2, EVALUATIONS_PER_BLOCK = 2 };

struct rs_tensors {
    int32_t count;
    rs_tensor_view views[4];
};

struct rs_model {
    int32_t units;
    int64_t *widths; /* [units] */
    int32_t *blocks; /* [units] */
    float h;
    float *scratch;  /* grown as needed, reused across calls */
    size_t scratch_capacity; /* in floats */
    pthread_mutex_t lock; /* the host may call on one handle from several threads: guards scratch */
};

static _Atomic int64_t live_models = 0;

int64_t ctanh_live_models(void) { return atomic_load(&live_models); }

__attribute__((format(printf, 3, 4)))
static rs_status fail(rs_error *error, rs_status status, const char *format, ...) {
    if (error) {
        va_list arguments;
        va_start(arguments, format);
        vsnprintf(error->message, sizeof error->message, format, arguments);
        va_end(arguments);
    }
    return status;
}

/* The element count of a rank-4 shape, or -1 if a dimension is negative or the count overflows. */
static int64_t elements4(const int64_t shape[4]) {
    int64_t n = 1;
    for (int32_t i = 0; i < 4; i++) {
        if (shape[i] < 0 || __builtin_mul_overflow(n, shape[i], &n)) return -1;
    }
    if (n > (int64_t)(SIZE_MAX / (4 * sizeof(float)))) return -1;
    return n;
}

/* A new list of `count` rank-4 tensors of the same shape, zeroed; NULL if out of memory. */
static rs_tensors *new_list(int32_t count, const int64_t shape[4]) {
    rs_tensors *list = calloc(1, sizeof *list);
    if (!list) return NULL;
    size_t n = (size_t)elements4(shape);
    for (int32_t i = 0; i < count; i++) {
        list->views[i].rank = 4;
        memcpy(list->views[i].shape, shape, 4 * sizeof(int64_t));
        list->views[i].data = calloc(n ? n : 1, sizeof(float));
        list->count = i + 1;
        if (!list->views[i].data) {
            for (int32_t j = 0; j < i; j++) free((void *)list->views[j].data);
            free(list);
            return NULL;
        }
    }
    return list;
}

static float *mutable_data(rs_tensors *list, int32_t i) { return (float *)list->views[i].data; }

/* The model's scratch buffer with room for at least `count` floats; NULL if out of memory. */
static float *scratch(rs_model *model, size_t count) {
    if (count == 0) count = 1;
    if (count > model->scratch_capacity) {
        float *grown = realloc(model->scratch, count * sizeof(float));
        if (!grown) return NULL;
        model->scratch = grown;
        model->scratch_capacity = count;
    }
    return model->scratch;
}

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

/* target += sign * h * K^T tanh(K source + b), with `a` (the state's element count) as scratch. */
static void step(float *target, const float *source, const rs_tensor_in *k, const rs_tensor_in *b, float sign_h,
                 const int64_t s[4], float *a) {
    size_t count = (size_t)elements4(s);
    conv(source, k->data, b->data, a, s);
    for (size_t i = 0; i < count; i++) a[i] = tanhf(a[i]);
    conv_transpose_add(a, k->data, sign_h, target, s);
}

/* One block in place on [y, z] (direction +1 forward, -1 inverse); p are its 4 parameters. */
static void apply_block(float *y, float *z, const rs_tensor_in *p, float h, int direction, const int64_t s[4], float *a) {
    const rs_tensor_in *k1 = &p[0], *k2 = &p[1], *b1 = &p[2], *b2 = &p[3];
    if (direction > 0) {
        step(y, z, k1, b1, h, s, a);
        step(z, y, k2, b2, -h, s, a);
    } else {
        step(z, y, k2, b2, h, s, a);
        step(y, z, k1, b1, -h, s, a);
    }
}

/* x (N, 2C, H, W) -> y, z (N, C, H, W), the two channel halves; `half` is the halves' shape. */
static void split(const float *x, float *y, float *z, const int64_t half[4]) {
    int64_t plane = half[2] * half[3], c = half[1];
    for (int64_t n = 0; n < half[0]; n++) {
        memcpy(y + n * c * plane, x + (n * 2 * c) * plane, (size_t)(c * plane) * sizeof(float));
        memcpy(z + n * c * plane, x + (n * 2 * c + c) * plane, (size_t)(c * plane) * sizeof(float));
    }
}

/* y, z (N, C, H, W) -> x (N, 2C, H, W). */
static void merge(const float *y, const float *z, float *x, const int64_t half[4]) {
    int64_t plane = half[2] * half[3], c = half[1];
    for (int64_t n = 0; n < half[0]; n++) {
        memcpy(x + (n * 2 * c) * plane, y + n * c * plane, (size_t)(c * plane) * sizeof(float));
        memcpy(x + (n * 2 * c + c) * plane, z + n * c * plane, (size_t)(c * plane) * sizeof(float));
    }
}

static int32_t parameter_count(int64_t width) { (void)width; return PARAMETERS; }

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

/* Model handles. */

static void model_destroy(rs_model *model) {
    if (!model) return;
    free(model->widths);
    free(model->blocks);
    free(model->scratch);
    pthread_mutex_destroy(&model->lock);
    free(model);
    atomic_fetch_sub(&live_models, 1);
}

static rs_status model_create(const rs_model_config *config, rs_model **out, rs_error *error) {
    if (!config || !out) return fail(error, RS_INVALID_ARGUMENT, "ctanh model_create: config and model must not be NULL");
    if (config->units < 1) return fail(error, RS_INVALID_ARGUMENT, "ctanh model_create: %d units (at least 1 needed)", (int)config->units);
    if (!config->widths || !config->blocks) return fail(error, RS_INVALID_ARGUMENT, "ctanh model_create: widths and blocks must not be NULL");
    for (int32_t u = 0; u < config->units; u++) {
        if (config->widths[u] <= 0 || config->widths[u] % 2)
            return fail(error, RS_INVALID_ARGUMENT, "ctanh model_create: unit %d has width %lld (widths must be even and positive)",
                        (int)u, (long long)config->widths[u]);
        if (config->blocks[u] < 1)
            return fail(error, RS_INVALID_ARGUMENT, "ctanh model_create: unit %d has %d blocks (at least 1 needed)",
                        (int)u, (int)config->blocks[u]);
    }
    rs_model *model = calloc(1, sizeof *model);
    if (!model) return fail(error, RS_FAILED, "ctanh model_create: out of memory");
    model->units = config->units;
    model->h = config->h;
    model->widths = malloc((size_t)config->units * sizeof *model->widths);
    model->blocks = malloc((size_t)config->units * sizeof *model->blocks);
    if (!model->widths || !model->blocks) {
        free(model->widths);
        free(model->blocks);
        free(model);
        return fail(error, RS_FAILED, "ctanh model_create: out of memory");
    }
    memcpy(model->widths, config->widths, (size_t)config->units * sizeof *model->widths);
    memcpy(model->blocks, config->blocks, (size_t)config->units * sizeof *model->blocks);
    pthread_mutex_init(&model->lock, NULL);
    atomic_fetch_add(&live_models, 1);
    *out = model;
    return RS_OK;
}

/* Unit input x (N, C, H, W) -> state [Y, Z], the two channel halves. */
static rs_status enter(rs_model *model, const rs_tensor_in *x, rs_tensors **state, rs_error *error) {
    if (!model || !x || !state) return fail(error, RS_INVALID_ARGUMENT, "ctanh enter: model, x and state must not be NULL");
    if (x->rank != 4 || x->shape[1] % 2) return fail(error, RS_INVALID_ARGUMENT, "ctanh needs an even channel count");
    int64_t half[4] = {x->shape[0], x->shape[1] / 2, x->shape[2], x->shape[3]};
    if (elements4(half) < 0 || !x->data) return fail(error, RS_INVALID_ARGUMENT, "ctanh enter: bad input tensor");
    rs_tensors *list = new_list(PARTS, half);
    if (!list) return fail(error, RS_FAILED, "ctanh enter: out of memory");
    split(x->data, mutable_data(list, 0), mutable_data(list, 1), half);
    *state = list;
    return RS_OK;
}

static rs_status exit_(rs_model *model, const rs_tensor_in *state, int32_t parts, rs_tensors **x, rs_error *error) {
    if (!model || !state || !x) return fail(error, RS_INVALID_ARGUMENT, "ctanh exit: model, state and x must not be NULL");
    if (parts != PARTS) return fail(error, RS_INVALID_ARGUMENT, "ctanh states have two parts");
    const int64_t *half = state[0].shape;
    if (state[0].rank != 4 || state[1].rank != 4 || memcmp(state[0].shape, state[1].shape, sizeof state[0].shape) ||
        !state[0].data || !state[1].data || elements4(half) < 0 || half[1] > INT64_MAX / 2)
        return fail(error, RS_INVALID_ARGUMENT, "ctanh exit: the state's two parts must be rank-4 tensors of one shape");
    int64_t whole[4] = {half[0], 2 * half[1], half[2], half[3]};
    if (elements4(whole) < 0) return fail(error, RS_INVALID_ARGUMENT, "ctanh exit: state too large");
    rs_tensors *list = new_list(1, whole);
    if (!list) return fail(error, RS_FAILED, "ctanh exit: out of memory");
    merge(state[0].data, state[1].data, mutable_data(list, 0), half);
    *x = list;
    return RS_OK;
}

static rs_status exit_gradient(rs_model *model, const rs_tensor_in *dx, const rs_tensor_in *final_state, int32_t parts,
                               rs_tensors **dstate, rs_error *error) {
    (void)model; (void)dx; (void)final_state; (void)parts; (void)dstate;
    return fail(error, RS_UNSUPPORTED, "the ctanh test plugin only serves (no gradients)");
}

static rs_status enter_gradient(rs_model *model, const rs_tensor_in *dstate, int32_t parts, rs_tensors **dx, rs_error *error) {
    (void)model; (void)dstate; (void)parts; (void)dx;
    return fail(error, RS_UNSUPPORTED, "the ctanh test plugin only serves (no gradients)");
}

/* Checks a run against the model: the unit and blocks exist, and every block has 4 parameters
 * shaped for the unit's width. */
static rs_status check_run(const rs_model *model, const rs_run *run, const char *what, rs_error *error) {
    if (run->unit < 0 || run->unit >= model->units)
        return fail(error, RS_INVALID_ARGUMENT, "ctanh %s: unit %d does not exist (the model has %d)", what, (int)run->unit,
                    (int)model->units);
    int32_t blocks = model->blocks[run->unit];
    if (run->first_block < 0 || run->count < 1 || (int64_t)run->first_block + run->count > blocks)
        return fail(error, RS_INVALID_ARGUMENT, "ctanh %s: blocks %d..%lld are not in unit %d (blocks 0..%d)", what,
                    (int)run->first_block, (long long)run->first_block + run->count - 1, (int)run->unit, (int)blocks - 1);
    if (run->parameter_count != PARAMETERS || !run->parameters)
        return fail(error, RS_INVALID_ARGUMENT, "ctanh %s: blocks take 4 parameters (got %d)", what, (int)run->parameter_count);
    int64_t c = model->widths[run->unit] / 2;
    for (int32_t i = 0; i < run->count; i++) {
        const rs_tensor_in *p = &run->parameters[(size_t)i * PARAMETERS];
        for (int32_t j = 0; j < PARAMETERS; j++) {
            int ok = p[j].data != NULL;
            if (j < 2) ok = ok && p[j].rank == 4 && p[j].shape[0] == c && p[j].shape[1] == c && p[j].shape[2] == 3 && p[j].shape[3] == 3;
            else ok = ok && p[j].rank == 1 && p[j].shape[0] == c;
            if (!ok)
                return fail(error, RS_INVALID_ARGUMENT, "ctanh %s: parameter %d of block %d does not fit unit %d (width %lld)", what,
                            (int)j, (int)(run->first_block + i), (int)run->unit, (long long)model->widths[run->unit]);
        }
    }
    return RS_OK;
}

/* Checks a state [Y, Z] for the run's unit; its halves' shape goes to `half`. */
static rs_status check_state(const rs_model *model, const rs_run *run, const rs_tensor_in *state, int32_t parts,
                             int64_t half[4], const char *what, rs_error *error) {
    if (parts != PARTS) return fail(error, RS_INVALID_ARGUMENT, "ctanh %s: states have two parts (got %d)", what, (int)parts);
    if (state[0].rank != 4 || state[1].rank != 4 || memcmp(state[0].shape, state[1].shape, sizeof state[0].shape) ||
        !state[0].data || !state[1].data || elements4(state[0].shape) < 0)
        return fail(error, RS_INVALID_ARGUMENT, "ctanh %s: the state's two parts must be rank-4 tensors of one shape", what);
    if (2 * state[0].shape[1] != model->widths[run->unit])
        return fail(error, RS_INVALID_ARGUMENT, "ctanh %s: a state of %lld channels per part does not fit unit %d (width %lld)", what,
                    (long long)state[0].shape[1], (int)run->unit, (long long)model->widths[run->unit]);
    memcpy(half, state[0].shape, 4 * sizeof(int64_t));
    return RS_OK;
}

static rs_status forward_locked(rs_model *model, rs_run *run, const rs_tensor_in *input, int32_t parts, rs_tensors **output,
                                rs_tape **tapes, rs_error *error) {
    if (!model || !run || !input || !output)
        return fail(error, RS_INVALID_ARGUMENT, "ctanh forward: model, run, input and output must not be NULL");
    if (run->flags & ~(RS_RUN_FROM_UNIT_INPUT | RS_RUN_TO_UNIT_OUTPUT))
        return fail(error, RS_INVALID_ARGUMENT, "ctanh forward: unknown run flags 0x%x", (unsigned)run->flags);
    rs_status status = check_run(model, run, "forward", error);
    if (status != RS_OK) return status;
    int from_x = (run->flags & RS_RUN_FROM_UNIT_INPUT) != 0, to_x = (run->flags & RS_RUN_TO_UNIT_OUTPUT) != 0;

    int64_t half[4];
    if (from_x) {
        if (parts != 1) return fail(error, RS_INVALID_ARGUMENT, "ctanh forward: from the unit input, parts is 1 (got %d)", (int)parts);
        if (input->rank != 4 || !input->data || input->shape[1] != model->widths[run->unit])
            return fail(error, RS_INVALID_ARGUMENT, "ctanh forward: the input is not a rank-4 tensor of unit %d's width %lld",
                        (int)run->unit, (long long)model->widths[run->unit]);
        half[0] = input->shape[0]; half[1] = input->shape[1] / 2; half[2] = input->shape[2]; half[3] = input->shape[3];
        if (elements4(half) < 0 || elements4(input->shape) < 0) return fail(error, RS_INVALID_ARGUMENT, "ctanh forward: bad input shape");
    } else {
        status = check_state(model, run, input, parts, half, "forward", error);
        if (status != RS_OK) return status;
    }
    size_t count = (size_t)elements4(half);
    int64_t whole[4] = {half[0], 2 * half[1], half[2], half[3]};

    /* The blocks run in place on [y, z]: the output list's buffers, or (when the output is the
     * unit's output) the scratch buffer after the activations. */
    float *a = scratch(model, to_x ? 3 * count : count);
    if (!a) return fail(error, RS_FAILED, "ctanh forward: out of memory");
    rs_tensors *list = new_list(to_x ? 1 : PARTS, to_x ? whole : half);
    if (!list) return fail(error, RS_FAILED, "ctanh forward: out of memory");
    float *y = to_x ? a + count : mutable_data(list, 0);
    float *z = to_x ? a + 2 * count : mutable_data(list, 1);
    if (from_x) {
        split(input->data, y, z, half);
    } else {
        memcpy(y, input[0].data, count * sizeof(float));
        memcpy(z, input[1].data, count * sizeof(float));
    }
    for (int32_t i = 0; i < run->count; i++)
        apply_block(y, z, &run->parameters[(size_t)i * PARAMETERS], model->h, +1, half, a);
    if (to_x) merge(y, z, mutable_data(list, 0), half);

    run->evaluations = (int64_t)EVALUATIONS_PER_BLOCK * run->count;
    if (tapes)
        for (int32_t i = 0; i < run->count; i++) tapes[i] = NULL;
    *output = list;
    return RS_OK;
}

static rs_status reconstruct_locked(rs_model *model, rs_run *run, const rs_tensor_in *output, int32_t parts, rs_tensors **input,
                                    rs_tape **tape, rs_error *error) {
    if (!model || !run || !output || !input)
        return fail(error, RS_INVALID_ARGUMENT, "ctanh reconstruct: model, run, output and input must not be NULL");
    if (run->count != 1) return fail(error, RS_INVALID_ARGUMENT, "ctanh reconstruct: runs one block (count %d)", (int)run->count);
    rs_status status = check_run(model, run, "reconstruct", error);
    if (status != RS_OK) return status;
    int64_t half[4];
    status = check_state(model, run, output, parts, half, "reconstruct", error);
    if (status != RS_OK) return status;
    size_t count = (size_t)elements4(half);
    float *a = scratch(model, count);
    if (!a) return fail(error, RS_FAILED, "ctanh reconstruct: out of memory");
    rs_tensors *list = new_list(PARTS, half);
    if (!list) return fail(error, RS_FAILED, "ctanh reconstruct: out of memory");
    float *y = mutable_data(list, 0), *z = mutable_data(list, 1);
    memcpy(y, output[0].data, count * sizeof(float));
    memcpy(z, output[1].data, count * sizeof(float));
    apply_block(y, z, run->parameters, model->h, -1, half, a);
    run->evaluations = EVALUATIONS_PER_BLOCK;
    if (tape) *tape = NULL;
    *input = list;
    return RS_OK;
}

/* forward and reconstruct hold the handle's mutex: they share its scratch buffer. */
static rs_status forward(rs_model *model, rs_run *run, const rs_tensor_in *input, int32_t parts, rs_tensors **output,
                         rs_tape **tapes, rs_error *error) {
    if (!model) return fail(error, RS_INVALID_ARGUMENT, "ctanh forward: no model");
    pthread_mutex_lock(&model->lock);
    rs_status status = forward_locked(model, run, input, parts, output, tapes, error);
    pthread_mutex_unlock(&model->lock);
    return status;
}

static rs_status reconstruct(rs_model *model, rs_run *run, const rs_tensor_in *output, int32_t parts, rs_tensors **input,
                             rs_tape **tape, rs_error *error) {
    if (!model) return fail(error, RS_INVALID_ARGUMENT, "ctanh reconstruct: no model");
    pthread_mutex_lock(&model->lock);
    rs_status status = reconstruct_locked(model, run, output, parts, input, tape, error);
    pthread_mutex_unlock(&model->lock);
    return status;
}

static rs_status backward(rs_model *model, rs_run *run, const rs_tape *tape, const rs_tensor_in *output_gradient, int32_t parts,
                          float *const *gradients, rs_tensors **input_gradient, rs_error *error) {
    (void)model; (void)run; (void)tape; (void)output_gradient; (void)parts; (void)gradients; (void)input_gradient;
    return fail(error, RS_UNSUPPORTED, "the ctanh test plugin only serves (no backward)");
}

static int32_t tensors_count(const rs_tensors *list) { return list ? list->count : 0; }
static rs_tensor_view tensors_get(const rs_tensors *list, int32_t index) {
    if (!list || index < 0 || index >= list->count) return (rs_tensor_view){0};
    return list->views[index];
}
static void tensors_free(rs_tensors *list) {
    if (!list) return;
    for (int32_t i = 0; i < list->count; i++) free((void *)list->views[i].data);
    free(list);
}
/* No tape is ever made: every tape this plugin hands out is NULL. */
static int64_t tape_bytes(const rs_tape *tape) { (void)tape; return 0; }
static void tape_free(rs_tape *tape) { (void)tape; }

#ifdef RS_TEST_CLAIM_MAJOR
#define RS_TEST_TABLE_MAJOR RS_TEST_CLAIM_MAJOR
#else
#define RS_TEST_TABLE_MAJOR RS_TEST_ABI_MAJOR
#endif

static const rs_plugin table = {
    .abi_major = RS_TEST_TABLE_MAJOR,
    .abi_minor = REVSERVE_PLUGIN_ABI_MINOR,
    .name = RS_TEST_NAME,
    .description = "Hamiltonian blocks with tanh, in plain C (test plugin)",
    .functions_per_block = EVALUATIONS_PER_BLOCK,
    .transition_groups = 2,
    .block_parameter_count = parameter_count,
    .block_parameter = parameter,
    .check_widths = check_widths,
    .block_flops = flops,
    .model_create = model_create,
    .model_destroy = model_destroy,
    .enter = enter,
    .exit = exit_,
    .exit_gradient = exit_gradient,
    .enter_gradient = enter_gradient,
    .forward = forward,
    .reconstruct = reconstruct,
    .backward = backward,
    .tensors_count = tensors_count,
    .tensors_get = tensors_get,
    .tensors_free = tensors_free,
    .tape_bytes = tape_bytes,
    .tape_free = tape_free,
};

const rs_plugin *revserve_plugin_entry(uint32_t host_abi_major, uint32_t host_abi_minor) {
    (void)host_abi_minor;
#ifdef RS_TEST_CLAIM_MAJOR
    (void)host_abi_major; /* declares RS_TEST_CLAIM_MAJOR to any host */
#else
    if (host_abi_major != (uint32_t)(RS_TEST_ABI_MAJOR)) return NULL; /* built for another major */
#endif
    return &table;
}
