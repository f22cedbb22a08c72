// CShimsMemory: glibc's malloc_trim, which Swift's Glibc module does not import (malloc.h).
#ifndef REVSERVE_CSHIMS_MEMORY_H
#define REVSERVE_CSHIMS_MEMORY_H

/// Returns free heap memory to the system; 1 if any was released.
int rs_malloc_trim(void);

#endif
