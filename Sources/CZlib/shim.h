// CZlib: zlib's gz* file API, for gzip-compressed datasets (IDX files).
#include <zlib.h>
