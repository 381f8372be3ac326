#ifndef WEFT_CCRC32C_H
#define WEFT_CCRC32C_H

#include <stddef.h>
#include <stdint.h>

/// Whether this processor has the SSE4.2 `crc32` instruction that `weft_crc32c_extend` needs.
int weft_crc32c_hardware_available(void);

/// The CRC-32C of `count` bytes at `data` continuing from `crc`, the checksum of the bytes
/// before them, with the `crc32` instruction. Only call it when the hardware is available.
uint32_t weft_crc32c_extend(uint32_t crc, const void *data, size_t count);

#endif
