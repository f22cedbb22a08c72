// memory_shims.c: glibc's malloc_trim and thread names for Swift (see CShimsMemory.h).
#define _GNU_SOURCE
#include "CShimsMemory.h"
#include <malloc.h>
#include <pthread.h>
#include <string.h>

int rs_malloc_trim(void) { return malloc_trim(0); }

int rs_malloc_arena_max(int arenas) { return mallopt(M_ARENA_MAX, arenas); }

void rs_thread_set_name(const char *name) {
    char shortened[16];
    strncpy(shortened, name, 15);
    shortened[15] = 0;
    pthread_setname_np(pthread_self(), shortened);
}
