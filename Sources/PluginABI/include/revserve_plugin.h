/* revserve_plugin.h: the versioned C ABI between revserve and an architecture plugin.
 *
 * A plugin is a shared library that provides one reversible architecture
 * (docs/spec/NETWORKS.md): the shapes of its block parameters, the rules its unit widths obey,
 * and, on a model handle, runs of blocks forward, the reconstruction of a block's input from
 * its output (the inverse, keeping what backward needs) and backward, plus the moves between
 * a unit's input tensor and its block state. revserve's engine drives the network (stem,
 * units, transitions, head, both memory modes) and calls the plugin for the blocks, in
 * `revserve serve` and `revserve train` alike.
 *
 * TERMS.
 *   unit     a run of blocks at one resolution and width; units are numbered from 0.
 *   block    one step of the architecture's ODE discretisation; numbered from 0 in its unit.
 *   width    the channels of a unit's input tensor x.
 *   state    what a unit's blocks carry from one to the next: one or more tensors of shape
 *            (N, C, H, W), its parts (Hamiltonian: Y and Z; Midpoint and Leapfrog: the
 *            current and the previous step). enter makes the state from x, exit makes the
 *            unit's output from the last state; `parts` in a call is the number of tensors.
 *   tape     what one block keeps for its backward (plugin-owned, opaque).
 *   model    a handle (rs_model) for one network: the plugin keeps on it whatever it derives
 *            across calls (transformed weights, scratch buffers); model_destroy frees it all.
 *
 * VERSIONING. The host looks up exactly one symbol, REVSERVE_PLUGIN_ENTRY_SYMBOL:
 *     const rs_plugin *revserve_plugin_entry(uint32_t host_abi_major, uint32_t host_abi_minor);
 * It returns its table, or NULL if it cannot work with that host; it may be called more than
 * once (after a NULL, the host asks again as an older major would, to name the plugin's
 * version in its refusal). The host refuses a table
 * whose abi_major differs from its own, naming both versions (a 1.x plugin is refused by a
 * 2.x host); minor versions only add fields at the end of the table (a host reads no field
 * beyond what the plugin's abi_minor declares).
 *
 * LIFECYCLE. The table is static: valid from the entry call until the process exits. The
 * host never unloads a library (never dlclose): a replaced library's models finish their
 * requests, are destroyed, and the library then stays mapped, unused. A model handle lives
 * from model_create to model_destroy, which the host calls exactly once, after its last call
 * on the handle has returned. Every object a plugin returns (rs_tensors, rs_tape, rs_model)
 * is owned by the plugin and released by the host with the matching function exactly once.
 * The host never frees plugin memory with its own allocator and vice versa.
 *
 * PARAMETERS. Every block call passes the block's parameters (host-owned views, valid during
 * the call). A call also passes a parameters_generation: calls with the same nonzero
 * generation pass the same values for the same (unit, block), so the plugin may keep what it
 * derives from them on the handle, keyed by generation. A serving model keeps one generation
 * for its handle's life; training moves to a new one after each optimiser step, and copies
 * of one network share its handle, so calls of different generations may alternate on it.
 * Generation 0 promises nothing.
 *
 * HANDLES OUTSIDE A NETWORK. Calls the host makes outside a network (tools, tests) get a
 * handle of one unit made for that call: its width is the call's (the first part's channels
 * times transition_groups), its blocks the called block + 1, and h the call's (0 for enter,
 * exit and their gradients). Tapes therefore outlive the handle that made them: a tape must
 * not refer to its handle. Two threads making a network's first calls may each create a
 * handle; the host keeps one and destroys the other unused.
 *
 * MEMORY. Input tensors (rs_tensor_in) are owned by the host and valid only during the call;
 * the plugin copies what it keeps. Output tensors are returned inside a plugin-owned
 * rs_tensors list whose views stay valid until rs_plugin.tensors_free. Parameter gradients
 * are host-owned buffers the plugin ACCUMULATES into (+=), never overwrites.
 *
 * THREADING. Every function may be called from any thread, and several calls may run at the
 * same time, on one model handle too (the host runs slices of a batch in parallel): a plugin
 * guards what it keeps on a handle. A single rs_tape is used by one call at a time.
 * `threads` in a call is how many worker threads the plugin may use for it. Functions never
 * call back into the host.
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

#define REVSERVE_PLUGIN_ABI_MAJOR 2
#define REVSERVE_PLUGIN_ABI_MINOR 0
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

/* A parameter of one block: its dataset name in checkpoints (docs/spec/CHECKPOINT.md) and shape. */
typedef struct rs_parameter_spec {
    char name[32];
    int32_t rank;
    int64_t shape[4];
    int32_t role; /* RS_ROLE_CONVOLUTION_WEIGHT or RS_ROLE_BIAS */
} rs_parameter_spec;
enum { RS_ROLE_CONVOLUTION_WEIGHT = 0, RS_ROLE_BIAS = 1 };

typedef struct rs_tensors rs_tensors; /* plugin-owned list of tensors */
typedef struct rs_tape rs_tape;       /* plugin-owned: what one block keeps for its backward */
typedef struct rs_model rs_model;     /* plugin-owned: what the plugin keeps for one network */

/* The network a model handle is made for. Arrays are host-owned, valid during model_create. */
typedef struct rs_model_config {
    int32_t units;
    const int64_t *widths;  /* [units] the width of each unit */
    const int32_t *blocks;  /* [units] the number of blocks in each unit */
    float h;                /* the step size of every block */
} rs_model_config;

/* A run of consecutive blocks of one unit: blocks first_block … first_block + count − 1. */
typedef struct rs_run {
    int32_t unit;
    int32_t first_block;
    int32_t count;
    /* The blocks' parameters, block after block, each block's in block_parameter order:
     * count × parameter_count tensors. */
    const rs_tensor_in *parameters;
    int32_t parameter_count;          /* per block */
    uint64_t parameters_generation;   /* see PARAMETERS */
    int32_t threads;
    int32_t flags;                    /* RS_RUN_* */
    int64_t evaluations;              /* out: residual-function evaluations the call made */
} rs_run;

enum {
    /* forward: the input is the unit's input x (one tensor), entered before the first block. */
    RS_RUN_FROM_UNIT_INPUT = 1,
    /* forward: the output is the unit's output (one tensor), exited after the last block. */
    RS_RUN_TO_UNIT_OUTPUT = 2,
};

typedef struct rs_plugin {
    uint32_t abi_major;
    uint32_t abi_minor;
    const char *name;        /* the architecture's name in checkpoints, e.g. "hamiltonian" */
    const char *description; /* one line, for logs */
    int32_t functions_per_block; /* residual-function evaluations per block forward */
    int32_t transition_groups;   /* channel groups padded separately at a transition */

    /* Shapes and rules (no model needed). */
    int32_t (*block_parameter_count)(int64_t width);
    rs_status (*block_parameter)(int64_t width, int32_t index, rs_parameter_spec *out, rs_error *error);
    /* RS_OK if a network with these unit widths can be built, else why not. */
    rs_status (*check_widths)(const int64_t *widths, int32_t units, rs_error *error);
    double (*block_flops)(int64_t width, int64_t pixels);

    /* A model handle for the network `config` describes, and its end. */
    rs_status (*model_create)(const rs_model_config *config, rs_model **model, rs_error *error);
    void (*model_destroy)(rs_model *model);

    /* Unit input <-> block state, and their gradients. */
    rs_status (*enter)(rs_model *model, const rs_tensor_in *x, rs_tensors **state, rs_error *error);
    rs_status (*exit)(rs_model *model, const rs_tensor_in *state, int32_t parts, rs_tensors **x, rs_error *error);
    rs_status (*exit_gradient)(rs_model *model, const rs_tensor_in *dx, const rs_tensor_in *final_state, int32_t parts,
                               rs_tensors **dstate, rs_error *error);
    rs_status (*enter_gradient)(rs_model *model, const rs_tensor_in *dstate, int32_t parts, rs_tensors **dx, rs_error *error);

    /* The run's blocks in order from `input` (a state of `parts` tensors, or the unit's input
     * with RS_RUN_FROM_UNIT_INPUT); `output` is the last block's output state (or the unit's
     * output with RS_RUN_TO_UNIT_OUTPUT). tapes is NULL (inference: nothing kept) or an array
     * of run->count slots that receive each block's tape (NULL: nothing kept, as in inference
     * and reversible training). */
    rs_status (*forward)(rs_model *model, rs_run *run, const rs_tensor_in *input, int32_t parts,
                         rs_tensors **output, rs_tape **tapes, rs_error *error);
    /* A one-block run's input state from its output, with the tape forward would have kept. */
    rs_status (*reconstruct)(rs_model *model, rs_run *run, const rs_tensor_in *output, int32_t parts,
                             rs_tensors **input, rs_tape **tape, rs_error *error);
    /* A one-block run's gradient w.r.t. its input state from the output gradient; accumulates
     * the parameter gradients into gradients[i] (shaped like parameter i). RS_UNSUPPORTED if
     * the plugin only serves. */
    rs_status (*backward)(rs_model *model, rs_run *run, const rs_tape *tape, const rs_tensor_in *output_gradient,
                          int32_t parts, float *const *gradients, rs_tensors **input_gradient, rs_error *error);

    /* Plugin-owned objects. */
    int32_t (*tensors_count)(const rs_tensors *list);
    rs_tensor_view (*tensors_get)(const rs_tensors *list, int32_t index);
    void (*tensors_free)(rs_tensors *list);
    int64_t (*tape_bytes)(const rs_tape *tape);
    void (*tape_free)(rs_tape *tape);
} rs_plugin;

/* The one exported symbol. */
typedef const rs_plugin *(*rs_plugin_entry_fn)(uint32_t host_abi_major, uint32_t host_abi_minor);

#ifdef __cplusplus
}
#endif

#endif /* REVSERVE_PLUGIN_H */
