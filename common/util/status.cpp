#include "util/status.h"

#include <cerrno>
#include <cstring>

namespace fanout {

Status Status::InvalidArgument(std::string msg) { return Status(EINVAL, std::move(msg)); }

Status Status::FromErrno(const std::string& context) { return FromErrno(context, errno); }

Status Status::FromErrno(const std::string& context, int err) {
  if (err == 0) err = EIO;
  return Status(err, context + ": " + std::strerror(err));
}

}  // namespace fanout
