// CPNG: libpng's C API (1.6). Its setjmp error frame is wrapped in CShims, never used from Swift.
#include <png.h>
