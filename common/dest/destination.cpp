#include "dest/destination.h"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>

#include "dest/command_destination.h"
#include "dest/file_destination.h"
#include "dest/nbd_destination.h"
#include "dest/stream_destination.h"
#include "util/zero_block.h"

namespace fanout {

const char* KindName(DestinationKind kind) {
  switch (kind) {
    case DestinationKind::kFile: return "file";
    case DestinationKind::kBlock: return "block";
    case DestinationKind::kFifo: return "fifo";
    case DestinationKind::kCommand: return "command";
    case DestinationKind::kNbd: return "nbd";
  }
  return "?";
}

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
  do n = read(fd, buf, sizeof buf); while (n == -1 && errno == EINTR);
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
  const std::string sys = "/sys/dev/block/" + std::to_string(major(id.dev)) + ":" +
                          std::to_string(minor(id.dev));
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
    case DestinationIdentity::What::kFile: return "file";
    case DestinationIdentity::What::kFifo: return "FIFO";
    case DestinationIdentity::What::kBlockDevice: return "block device";
    case DestinationIdentity::What::kCharDevice: return "character device";
  }
  return "?";
}

Destination::Destination(std::string name)
    : name_(std::move(name)),
      cancel_fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
      progress_ns_(Clock::now().time_since_epoch().count()) {}

Destination::~Destination() {
  if (cancel_fd_ >= 0) close(cancel_fd_);
}

void Destination::Cancel() {
  if (cancelled_.exchange(true)) return;
  // The counter stays non-zero: every later poll sees it too.
  const uint64_t one = 1;
  ssize_t r = write(cancel_fd_, &one, sizeof one);
  (void)r;
}

Status Destination::Submit(const Extent& extent, uint64_t tag) {
  Status s = extent.is_zero() ? Zero(extent.length, extent.offset)
                              : Write(extent.bytes(), extent.length, extent.offset);
  if (s.ok()) completed_.push_back(tag);
  return s;
}

Status Destination::Reap(std::vector<uint64_t>* done, uint64_t* /*failed*/) {
  done->insert(done->end(), completed_.begin(), completed_.end());
  completed_.clear();
  return Status::OK();
}

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
    if (access(path.c_str(), W_OK) == -1) return Status::FromErrno("dest=" + path + ": not writable");
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
    return Status::FromErrno("dest=" + path + (existed ? ": cannot open for writing" : ": cannot create"));
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
  auto file =
      std::make_unique<FileDestination>(path, AbsolutePath(path), fd, st, existed, io, log);
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

Status OpenDestination(const DestinationSpec& spec, std::unique_ptr<Destination>* out,
                       Logger* log, const FileIoOptions& io) {
  if (spec.source == DestinationSpec::Source::kCommand) {
    *out = std::make_unique<CommandDestination>(spec.value);
    return Status::OK();
  }
  if (IsNbdUri(spec.value)) return NbdDestination::Probe(spec.value, log, out);
  return OpenPath(spec.value, io, log, out);
}

Status WriteZeros(int fd, uint64_t length, off_t offset, const std::string& name) {
  while (length > 0) {
    const uint64_t n = length < kZeroBlockSize ? length : kZeroBlockSize;
    Status s = WriteFully(fd, kZeroBlock, n, offset, name);
    if (!s.ok()) return s;
    length -= n;
    if (offset >= 0) offset += n;
  }
  return Status::OK();
}

}  // namespace fanout
