// hdf5_shims.c: wraps libhdf5's macro constants as plain functions callable from Swift.
#include "CShims.h"

hid_t rs_h5t_native_float(void) { return H5T_NATIVE_FLOAT; }
hid_t rs_h5t_native_double(void) { return H5T_NATIVE_DOUBLE; }
hid_t rs_h5t_native_int32(void) { return H5T_NATIVE_INT32; }
hid_t rs_h5t_native_int64(void) { return H5T_NATIVE_INT64; }
hid_t rs_h5t_native_uint8(void) { return H5T_NATIVE_UINT8; }
hid_t rs_h5t_c_s1(void) { return H5T_C_S1; }
hid_t rs_h5t_ieee_f32le(void) { return H5T_IEEE_F32LE; }
hid_t rs_h5t_std_i64le(void) { return H5T_STD_I64LE; }
size_t rs_h5t_variable(void) { return H5T_VARIABLE; }

unsigned rs_h5f_acc_rdonly(void) { return H5F_ACC_RDONLY; }
unsigned rs_h5f_acc_rdwr(void) { return H5F_ACC_RDWR; }
unsigned rs_h5f_acc_trunc(void) { return H5F_ACC_TRUNC; }
unsigned rs_h5f_acc_excl(void) { return H5F_ACC_EXCL; }

hid_t rs_h5p_default(void) { return H5P_DEFAULT; }
hid_t rs_h5s_all(void) { return H5S_ALL; }
hid_t rs_h5p_file_access(void) { return H5P_FILE_ACCESS; }
hid_t rs_h5p_dataset_create(void) { return H5P_DATASET_CREATE; }
hid_t rs_h5p_link_create(void) { return H5P_LINK_CREATE; }

void rs_h5_silence_errors(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }
