// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

#include "dest/destination_factory.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "dest/command_destination.h"
#include "dest/file_destination.h"
#include "dest/nbd_destination.h"
#include "dest/stream_destination.h"

namespace fanout {

namespace {

std::string ParentDirectory(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

Status Refuse(const std::string& path, const std::string& why) {
  return Status::InvalidArgument("dest=" + path + ": " + why);
}

Status OpenPath(const std::string& path, const FileIoOptions& io, Logger* log,
                std::unique_ptr<Destination>* out) {
  struct stat st;
  bool existed = true;
  if (stat(path.c_str(), &st) == -1) {
    if (errno != ENOENT) return Status::FromErrno("dest=" + path + ": stat");
    const std::string parent = ParentDirectory(path);
    struct stat pst;
    if (stat(parent.c_str(), &pst) == -1 || !S_ISDIR(pst.st_mode))
      return Refuse(path, "the directory " + parent + " does not exist");
    existed = false;
  } else if (S_ISDIR(st.st_mode)) {
    return Refuse(path, "is a directory, not a file, block device or FIFO");
  } else if (S_ISSOCK(st.st_mode)) {
    return Refuse(path, "is a socket; a file, block device or FIFO was expected");
  } else if (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode)) {
    // Opening a FIFO blocks until a reader arrives, so only check now that
    // it could be opened for writing; the writer opens it when serving.
    if (access(path.c_str(), W_OK) == -1)
      return Status::FromErrno("dest=" + path + ": not writable");
    *out = std::make_unique<StreamDestination>(path, AbsolutePath(path), IdentityOf(st));
    return Status::OK();
  }

  // Regular file (new or existing) or block device.  O_EXCL on a block
  // device means "not mounted and not held open exclusively by anyone".
  int flags = O_RDWR | O_CLOEXEC;
  if (!existed) flags |= O_CREAT;
  if (existed && S_ISBLK(st.st_mode)) flags |= O_EXCL;
  const int fd = open(path.c_str(), flags, 0644);
  if (fd == -1) {
    if (errno == EBUSY)
      return Refuse(path, "the device is in use (mounted, or held open by another program)");
    return Status::FromErrno("dest=" + path +
                             (existed ? ": cannot open for writing" : ": cannot create"));
  }
  if (fstat(fd, &st) == -1) {
    Status s = Status::FromErrno("dest=" + path + ": fstat");
    close(fd);
    return s;
  }
  if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
    close(fd);
    return Refuse(path, "is not a regular file, block device or FIFO");
  }
  auto file = std::make_unique<FileDestination>(path, AbsolutePath(path), fd, st, existed, io, log);
  if (io.direct) {
    Status s = file->OpenDirect();
    if (!s.ok()) {
      file->Abandon();
      return s;
    }
  }
  *out = std::move(file);
  return Status::OK();
}

}  // namespace

Status OpenDestination(const DestinationSpec& spec, std::unique_ptr<Destination>* out, Logger* log,
                       const FileIoOptions& io) {
  if (spec.source == DestinationSpec::Source::kCommand) {
    *out = std::make_unique<CommandDestination>(spec.value);
    return Status::OK();
  }
  if (IsNbdUri(spec.value)) return NbdDestination::Probe(spec.value, log, out);
  return OpenPath(spec.value, io, log, out);
}

}  // namespace fanout
