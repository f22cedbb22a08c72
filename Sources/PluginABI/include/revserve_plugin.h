/* revserve_plugin.h: the versioned C ABI between revserve and an architecture plugin.
 *
 * A plugin is a shared library that provides one reversible architecture (NETWORKS.md): the
 * shapes of its block parameters, the rules its unit widths obey, and for one block at a time
 * forward, reconstruction (the inverse that also keeps what backward needs) and backward,
 * plus the moves between a unit's input tensor and its block state. revserve's engine drives
 * the network (stem, units, transitions, head, both memory modes) and calls the plugin for
 * every block, in `revserve serve` and `revserve train` alike.
 *
 * VERSIONING. The library exports exactly one symbol, REVSERVE_PLUGIN_ENTRY_SYMBOL:
 *     const rs_plugin *revserve_plugin_entry(uint32_t host_abi_major, uint32_t host_abi_minor);
 * It returns its table, or NULL if it cannot work with that host. The host refuses a table
 * whose abi_major differs from its own; minor versions only add fields at the end of the
 * table (a host reads no field beyond what the plugin's abi_minor declares).
 *
 * LIFECYCLE. The table is static: valid from the entry call until the library is unloaded.
 * Every object a plugin returns (rs_tensors, rs_tape) is owned by the plugin and must be
 * released by the host with the matching *_free function, exactly once, before the library
 * is unloaded. The host never frees plugin memory with its own allocator and vice versa.
 *
 * MEMORY. Input tensors (rs_tensor_in) are owned by the host and valid only during the call;
 * the plugin copies what it keeps. Output tensors are returned inside a plugin-owned
 * rs_tensors list whose views stay valid until rs_plugin.tensors_free. Parameter gradients
 * are host-owned buffers the plugin ACCUMULATES into (+=), never overwrites.
 *
 * THREADING. Every function may be called from any thread, and from several threads at once
 * on different objects; a single rs_tape is used by one call at a time. `threads` in a call
 * is how many worker threads the plugin may use for it. Functions never call back into the host.
 *
 * ERRORS. Functions that can fail return RS_OK (0) or a non-zero rs_status and write a
 * NUL-terminated, one-line, human-readable message into the caller's rs_error. Outputs are
 * untouched (NULL) on failure.
 *
 * TENSORS. float32, row-major; shape[0..rank) used, a bias has rank 1, states and
 * activations are rank 4 (N, C, H, W).
 */
#ifndef REVSERVE_PLUGIN_H
#define REVSERVE_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define REVSERVE_PLUGIN_ABI_MAJOR 1
#define REVSERVE_PLUGIN_ABI_MINOR 2
#define REVSERVE_PLUGIN_ENTRY_SYMBOL "revserve_plugin_entry"

typedef int32_t rs_status;
enum { RS_OK = 0, RS_INVALID_ARGUMENT = 1, RS_UNSUPPORTED = 2, RS_FAILED = 3 };

/* A one-line message, written by the plugin on failure. */
typedef struct rs_error {
    char message[512];
} rs_error;

/* A host-owned tensor, read-only, valid during the call. */
typedef struct rs_tensor_in {
    const float *data;
    int32_t rank;
    int64_t shape[4];
} rs_tensor_in;

/* A view of a plugin-owned tensor inside an rs_tensors list. */
typedef struct rs_tensor_view {
    const float *data;
    int32_t rank;
    int64_t shape[4];
} rs_tensor_view;

/* A parameter of one block: its dataset name in checkpoints (CHECKPOINT.md) and shape. */
typedef struct rs_parameter_spec {
    char name[32];
    int32_t rank;
    int64_t shape[4];
    int32_t role; /* RS_ROLE_CONVOLUTION_WEIGHT or RS_ROLE_BIAS */
} rs_parameter_spec;
enum { RS_ROLE_CONVOLUTION_WEIGHT = 0, RS_ROLE_BIAS = 1 };

typedef struct rs_tensors rs_tensors; /* plugin-owned list of tensors */
typedef struct rs_tape rs_tape;       /* plugin-owned: what one block keeps for its backward */

/* One block call: block index within its unit (zero-based), its parameters in the order of
 * block_parameter, the step size h, and the worker threads it may use. The plugin reports how
 * many residual-function evaluations the call made (for the engine's counters). */
typedef struct rs_block_call {
    int32_t block;
    const rs_tensor_in *parameters;
    int32_t parameter_count;
    float h;
    int32_t threads;
    int64_t evaluations; /* out */
    /* ABI 1.1 (read it only from a host whose minor, given to the entry function, is at least
     * 1): nonzero when these parameters will be passed again unchanged (inference), so the
     * plugin may keep what it derives from them until release_caches; zero in training. */
    int32_t weights_fixed;
    /* ABI 1.2 (read it only from a host whose minor is at least 2): nonzero names these exact
     * parameter values: every call with the same id passes the same values (the host never
     * gives an id to other values), so the plugin may keep its copies of them, found by the
     * id instead of by comparing them, until release_caches; zero: no such promise. */
    uint64_t parameters_id;
} rs_block_call;

typedef struct rs_plugin {
    uint32_t abi_major;
    uint32_t abi_minor;
    const char *name;        /* the architecture's name in checkpoints, e.g. "hamiltonian" */
    const char *description; /* one line, for logs */
    int32_t functions_per_block; /* residual-function evaluations per block forward */
    int32_t transition_groups;   /* channel groups padded separately at a transition */

    /* Shapes and rules. */
    int32_t (*block_parameter_count)(int64_t width);
    rs_status (*block_parameter)(int64_t width, int32_t index, rs_parameter_spec *out, rs_error *error);
    /* RS_OK if a network with these unit widths can be built, else why not. */
    rs_status (*check_widths)(const int64_t *widths, int32_t units, rs_error *error);
    double (*block_flops)(int64_t width, int64_t pixels);

    /* Unit input ↔ block state, and their gradients. */
    rs_status (*enter)(const rs_tensor_in *x, rs_tensors **state, rs_error *error);
    rs_status (*exit)(const rs_tensor_in *state, int32_t parts, rs_tensors **x, rs_error *error);
    rs_status (*exit_gradient)(const rs_tensor_in *dx, const rs_tensor_in *final_state, int32_t parts,
                               rs_tensors **dstate, rs_error *error);
    rs_status (*enter_gradient)(const rs_tensor_in *dstate, int32_t parts, rs_tensors **dx, rs_error *error);

    /* Block j: output state and tape from its input state. tape may be NULL (not kept). */
    rs_status (*forward)(rs_block_call *call, const rs_tensor_in *state, int32_t parts,
                         rs_tensors **output, rs_tape **tape, rs_error *error);
    /* Block j's input state from its output, with the tape forward would have kept. */
    rs_status (*reconstruct)(rs_block_call *call, const rs_tensor_in *output, int32_t parts,
                             rs_tensors **input, rs_tape **tape, rs_error *error);
    /* Gradient w.r.t. the block's input state from the output gradient; accumulates the
     * parameter gradients into gradients[i] (shaped like parameter i). RS_UNSUPPORTED if the
     * plugin only serves. */
    rs_status (*backward)(rs_block_call *call, const rs_tape *tape, const rs_tensor_in *output_gradient, int32_t parts,
                          float *const *gradients, rs_tensors **input_gradient, rs_error *error);

    /* Plugin-owned objects. */
    int32_t (*tensors_count)(const rs_tensors *list);
    rs_tensor_view (*tensors_get)(const rs_tensors *list, int32_t index);
    void (*tensors_free)(rs_tensors *list);
    int64_t (*tape_bytes)(const rs_tape *tape);
    void (*tape_free)(rs_tape *tape);

    /* ABI 1.1. Drops whatever the plugin keeps across calls to go faster (revserve's own
     * plugins keep convolution weights in transformed form, found by content). The host calls
     * it when it takes a model out of service and when it releases the library, so that a
     * retired model's data does not stay in memory. May be NULL; a host reads it only from a
     * plugin whose abi_minor is at least 1. */
    void (*release_caches)(void);

    /* ABI 1.1, may be NULL. Inference through `count` consecutive blocks of one unit, keeping
     * no tapes: calls[i] is block i's call (as for forward; each reports its evaluations), the
     * state goes in once and the last block's output comes back once, instead of crossing the
     * boundary twice per block (at batch 64 those copies were ~15% of an inference). */
    rs_status (*forward_blocks)(rs_block_call *calls, int32_t count, const rs_tensor_in *state, int32_t parts,
                                rs_tensors **output, rs_error *error);

    /* ABI 1.2, may be NULL. Inference through a whole unit: enter from the unit's input x,
     * the `count` blocks as forward_blocks runs them, then exit; output is a list of one
     * tensor, the unit's output. Through enter, forward_blocks and exit the state crossed the
     * boundary three times each way (~10% of an inference at batch 16); here once. A host
     * reads it only from a plugin whose abi_minor is at least 2. */
    rs_status (*forward_unit)(rs_block_call *calls, int32_t count, const rs_tensor_in *x, rs_tensors **output,
                              rs_error *error);
} rs_plugin;

/* The one exported symbol. */
typedef const rs_plugin *(*rs_plugin_entry_fn)(uint32_t host_abi_major, uint32_t host_abi_minor);

#ifdef __cplusplus
}
#endif

#endif /* REVSERVE_PLUGIN_H */
