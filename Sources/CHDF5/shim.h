// CHDF5: libhdf5's C API (serial build, found through pkg-config hdf5).
#include <hdf5.h>
