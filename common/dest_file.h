// Seekable destinations on a file descriptor: a regular file or a block
// device.
#ifndef FANOUT_DEST_FILE_H
#define FANOUT_DEST_FILE_H

#include <sys/stat.h>

#include "destination.h"

namespace fanout {

class FileDestination final : public Destination {
 public:
  // Takes ownership of fd, opened read-write.  st is its fstat.  path:
  // name made absolute, for reopening after nbdkit has changed directory.
  FileDestination(std::string name, std::string path, int fd, const struct stat& st,
                  bool existed);
  ~FileDestination() override;

  DestinationKind kind() const override { return block_ ? DestinationKind::kBlock : DestinationKind::kFile; }
  bool seekable() const override { return true; }
  std::optional<uint64_t> fixed_size() const override;
  std::optional<std::pair<dev_t, ino_t>> identity() const override;

  void Abandon() override;
  Status Prepare(uint64_t export_size) override;
  Status Start() override { return Status::OK(); }
  Status Write(const uint8_t* buf, uint64_t length, uint64_t offset) override;
  Status Zero(uint64_t length, uint64_t offset) override;
  Status Sync() override;
  Status Read(uint8_t* buf, uint64_t length, uint64_t offset) override;
  Status Close() override;
  Status OpenReadBack(std::unique_ptr<ReadBack>* out) override;

 private:
  Status ZeroBlock(uint64_t length, uint64_t offset);

  const std::string path_;
  int fd_;
  const bool block_;
  const bool existed_;
  const dev_t dev_;
  const ino_t ino_;
  uint64_t device_size_ = 0;  // block devices, and existing files
  // Zeroing methods switch themselves off on the first EOPNOTSUPP; only the
  // writer thread touches them.
  bool can_punch_hole_ = true;
  bool can_zero_range_ = true;
  bool can_zeroout_ = true;
};

}  // namespace fanout

#endif  // FANOUT_DEST_FILE_H
