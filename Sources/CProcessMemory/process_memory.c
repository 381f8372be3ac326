#define _GNU_SOURCE
#include "CProcessMemory.h"

#include <errno.h>
#include <sys/uio.h>

ssize_t weft_process_memory_read(pid_t pid, void *local, uint64_t remote, size_t count) {
#if defined(__linux__)
    size_t done = 0;
    // The kernel may stop short (a page boundary it could not fault in): go on from there
    // until it copies nothing, which then reports why.
    while (done < count) {
        struct iovec into = {.iov_base = (char *)local + done, .iov_len = count - done};
        struct iovec from = {.iov_base = (void *)(uintptr_t)(remote + done), .iov_len = count - done};
        ssize_t copied = process_vm_readv(pid, &into, 1, &from, 1, 0);
        if (copied < 0) return -1;
        if (copied == 0) {
            errno = EFAULT;
            return -1;
        }
        done += (size_t)copied;
    }
    return (ssize_t)done;
#else
    (void)pid;
    (void)local;
    (void)remote;
    (void)count;
    errno = ENOSYS;
    return -1;
#endif
}
