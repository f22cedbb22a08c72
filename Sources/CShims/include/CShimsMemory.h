// CShimsMemory: glibc's malloc_trim and mallopt, which Swift's Glibc module does not import
// (malloc.h), and pthread_setname_np, which it imports only with _GNU_SOURCE.
#ifndef REVSERVE_CSHIMS_MEMORY_H
#define REVSERVE_CSHIMS_MEMORY_H

/// Returns free heap memory to the system; 1 if any was released.
int rs_malloc_trim(void);

/// Caps glibc's malloc arenas (mallopt M_ARENA_MAX); 1 on success.
int rs_malloc_arena_max(int arenas);

/// Names the calling thread (at most 15 bytes are kept), as top -H and perf show it.
void rs_thread_set_name(const char *name);

#endif
