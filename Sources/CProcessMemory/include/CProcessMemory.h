#ifndef WEFT_CPROCESSMEMORY_H
#define WEFT_CPROCESSMEMORY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/// Copies `count` bytes at `remote` in process `pid` to `local` (Linux's process_vm_readv,
/// which Swift's Glibc module does not export: it needs _GNU_SOURCE). Returns the bytes copied,
/// or -1 with errno set; elsewhere than Linux, always -1 with ENOSYS.
ssize_t weft_process_memory_read(pid_t pid, void *local, uint64_t remote, size_t count);

#endif
