// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// DestinationIdentity: what a destination is, whatever it was called.  The
// one way the engine, the tee filter and status= tell whether two names
// are the same storage.
#ifndef FANOUT_DEST_DESTINATION_IDENTITY_H
#define FANOUT_DEST_DESTINATION_IDENTITY_H

#include <sys/stat.h>
#include <sys/types.h>

#include <compare>
#include <optional>
#include <string>

namespace fanout {

// The same file named by a symlink or a hard link, the same FIFO by a
// symlink, the same device by a second device node, all have one
// identity.  A file or a FIFO is known by its file system and inode
// (st_dev, st_ino); a block or character device by the device it is
// (st_rdev), never by the inode of its node, so that /dev/loop2 and a
// mknod copy of it are one device.  Two destinations with the same
// identity would write the image into one place twice (two writers
// interleaving in one pipe, or racing on one device), so the engine
// refuses them by this, and the tee filter and status= are checked by it.
struct DestinationIdentity {
  enum class What { kFile, kFifo, kBlockDevice, kCharDevice };
  What what;
  dev_t dev;  // st_dev of a file or FIFO; st_rdev of a device (the device it is)
  ino_t ino;  // st_ino of a file or FIFO; 0 for a device (its node does not matter)
  auto operator<=>(const DestinationIdentity&) const = default;
};

// The identity of what st describes; nullopt for what is no destination
// (a directory, a socket, a symlink's own lstat).
std::optional<DestinationIdentity> IdentityOf(const struct stat& st);
// The identity of what path names (symlinks followed), without opening it:
// nullopt if it does not exist or is no destination.  Checking this before
// opening keeps the side effects of opening (a FIFO open, O_EXCL on a
// device, creating a file) from producing a misleading error of their own.
std::optional<DestinationIdentity> IdentityOfPath(const std::string& path);
// "file", "FIFO", "block device", "character device", for messages.
const char* IdentityName(DestinationIdentity::What what);

// A loop device is the same storage as the file it is over: writing the
// image to both writes it into that file twice, the device's copy at its
// offset.  For a block device id that is a loop device, or a partition of
// one, the identity of its backing file, from
// /sys/dev/block/MAJ:MIN/loop/backing_file (the parent's for a partition);
// nullopt for anything else, or where the backing file has been deleted
// (it has no name left that a destination could give).  Reads sysfs only:
// no device is opened.
struct LoopBacking {
  DestinationIdentity file;
  bool partition;  // id is a partition of the loop device, not the device
};
std::optional<LoopBacking> LoopBackingOf(const DestinationIdentity& id);

}  // namespace fanout

#endif  // FANOUT_DEST_DESTINATION_IDENTITY_H
