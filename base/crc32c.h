// CRC-32C (Castagnoli), the checksum of batch files: with the SSE4.2
// instruction when the CPU has it (several GB/s, so checksumming never
// limits a load), a table otherwise. Same results either way.
#ifndef CURATOR_BASE_CRC32C_H_
#define CURATOR_BASE_CRC32C_H_

#include <cstddef>
#include <cstdint>

namespace curator {

// Extends `crc` (0 to start) over `n` bytes.
uint32_t Crc32c(uint32_t crc, const void* data, size_t n);

}  // namespace curator

#endif  // CURATOR_BASE_CRC32C_H_
