// CShims: C functions for the parts of libhdf5 that Swift cannot import (function-like and
// global-variable macros). Prefixed rs_; internal to revserve, not a public API.
// The libpng wrappers are in CShimsPNG.h, malloc_trim in CShimsMemory.h.
#ifndef REVSERVE_CSHIMS_H
#define REVSERVE_CSHIMS_H

#include <hdf5.h>

// Native memory types. HDF5 defines these as macros that call H5open() and read a global.
hid_t rs_h5t_native_float(void);
hid_t rs_h5t_native_double(void);
hid_t rs_h5t_native_int32(void);
hid_t rs_h5t_native_int64(void);
hid_t rs_h5t_native_uint8(void);
hid_t rs_h5t_c_s1(void);
// Little-endian file types, so files are the same on every machine (docs/spec/CHECKPOINT.md).
hid_t rs_h5t_ieee_f32le(void);
hid_t rs_h5t_std_i64le(void);
// H5T_VARIABLE: the size of a variable-length string type.
size_t rs_h5t_variable(void);

// File access flags (macros that call H5check() and H5open()).
unsigned rs_h5f_acc_rdonly(void);
unsigned rs_h5f_acc_rdwr(void);
unsigned rs_h5f_acc_trunc(void);
unsigned rs_h5f_acc_excl(void);

// Default property lists and selections.
hid_t rs_h5p_default(void);
hid_t rs_h5s_all(void);
hid_t rs_h5p_file_access(void);
hid_t rs_h5p_dataset_create(void);
hid_t rs_h5p_link_create(void);

// Turns off libhdf5's automatic error printing on stderr: revserve reports errors itself.
void rs_h5_silence_errors(void);

#include "CShimsPNG.h"
#include "CShimsMemory.h"

#endif
