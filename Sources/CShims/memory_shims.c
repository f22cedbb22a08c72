// memory_shims.c: glibc's malloc_trim for Swift (see CShimsMemory.h).
#include "CShimsMemory.h"
#include <malloc.h>

int rs_malloc_trim(void) { return malloc_trim(0); }
