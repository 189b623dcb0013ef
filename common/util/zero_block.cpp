#include "util/zero_block.h"

namespace fanout {

alignas(kPageSize) const uint8_t kZeroBlock[kZeroBlockSize] = {};

}  // namespace fanout
