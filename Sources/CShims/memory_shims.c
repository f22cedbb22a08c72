// memory_shims.c: glibc's malloc_trim for Swift (see CShimsMemory.h).
#include "CShimsMemory.h"
#include <malloc.h>

int rs_malloc_trim(void) { return malloc_trim(0); }

int rs_malloc_arena_max(int arenas) { return mallopt(M_ARENA_MAX, arenas); }
