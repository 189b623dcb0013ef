// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

#include "dest/destination_identity.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <climits>

namespace fanout {

std::optional<DestinationIdentity> IdentityOf(const struct stat& st) {
  using What = DestinationIdentity::What;
  if (S_ISREG(st.st_mode)) return DestinationIdentity{What::kFile, st.st_dev, st.st_ino};
  if (S_ISFIFO(st.st_mode)) return DestinationIdentity{What::kFifo, st.st_dev, st.st_ino};
  if (S_ISBLK(st.st_mode)) return DestinationIdentity{What::kBlockDevice, st.st_rdev, 0};
  if (S_ISCHR(st.st_mode)) return DestinationIdentity{What::kCharDevice, st.st_rdev, 0};
  return std::nullopt;
}

std::optional<DestinationIdentity> IdentityOfPath(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) == -1) return std::nullopt;
  return IdentityOf(st);
}

namespace {

// The first line of a sysfs file, without its newline; nullopt if it
// cannot be read.
std::optional<std::string> ReadSysfsLine(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd == -1) return std::nullopt;
  char buf[PATH_MAX + 64];
  ssize_t n;
  do n = read(fd, buf, sizeof buf);
  while (n == -1 && errno == EINTR);
  close(fd);
  if (n <= 0) return std::nullopt;
  std::string line(buf, static_cast<size_t>(n));
  const size_t nl = line.find('\n');
  if (nl != std::string::npos) line.resize(nl);
  return line;
}

}  // namespace

std::optional<LoopBacking> LoopBackingOf(const DestinationIdentity& id) {
  if (id.what != DestinationIdentity::What::kBlockDevice) return std::nullopt;
  const std::string sys =
      "/sys/dev/block/" + std::to_string(major(id.dev)) + ":" + std::to_string(minor(id.dev));
  bool partition = false;
  auto backing = ReadSysfsLine(sys + "/loop/backing_file");
  if (!backing) {
    // A partition's sysfs directory is inside its whole device's.
    struct stat pst;
    if (stat((sys + "/partition").c_str(), &pst) == -1) return std::nullopt;
    backing = ReadSysfsLine(sys + "/../loop/backing_file");
    if (!backing) return std::nullopt;
    partition = true;
  }
  if (backing->empty()) return std::nullopt;
  struct stat st;
  if (stat(backing->c_str(), &st) == -1) {
    // "PATH (deleted)": the file was removed after the device was set up.
    // Whatever is at PATH now is another file.
    return std::nullopt;
  }
  auto file = IdentityOf(st);
  if (!file || file->what != DestinationIdentity::What::kFile) return std::nullopt;
  return LoopBacking{*file, partition};
}

const char* IdentityName(DestinationIdentity::What what) {
  switch (what) {
    case DestinationIdentity::What::kFile:
      return "file";
    case DestinationIdentity::What::kFifo:
      return "FIFO";
    case DestinationIdentity::What::kBlockDevice:
      return "block device";
    case DestinationIdentity::What::kCharDevice:
      return "character device";
  }
  return "?";
}

}  // namespace fanout
