// CBLAS: OpenBLAS's CBLAS interface (sgemm) and its thread-count controls.
#include <cblas.h>
