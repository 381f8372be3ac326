// CRC-32C with the SSE4.2 `crc32` instruction, which Swift cannot emit itself. Checkpoints
// checksum every byte they write and read, so the byte-table loop would bound their speed.
#include "CCrc32c.h"

#include <string.h>

#if defined(__x86_64__)

int weft_crc32c_hardware_available(void) { return __builtin_cpu_supports("sse4.2"); }

__attribute__((target("sse4.2"))) uint32_t weft_crc32c_extend(uint32_t crc, const void *data, size_t count) {
    const unsigned char *bytes = data;
    uint64_t value = ~crc;
    // Bytes up to 8-byte alignment, then 8 at a time (memcpy: no unaligned or aliasing loads).
    while (count > 0 && ((uintptr_t)bytes & 7) != 0) {
        value = __builtin_ia32_crc32qi((uint32_t)value, *bytes++);
        count--;
    }
    while (count >= 8) {
        uint64_t word;
        memcpy(&word, bytes, 8);
        value = __builtin_ia32_crc32di(value, word);
        bytes += 8;
        count -= 8;
    }
    while (count > 0) {
        value = __builtin_ia32_crc32qi((uint32_t)value, *bytes++);
        count--;
    }
    return ~(uint32_t)value;
}

#else

int weft_crc32c_hardware_available(void) { return 0; }

uint32_t weft_crc32c_extend(uint32_t crc, const void *data, size_t count) {
    (void)data;
    (void)count;
    return crc;
}

#endif
