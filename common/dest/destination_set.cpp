// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

#include "dest/destination_set.h"

#include <algorithm>
#include <map>
#include <set>

#include "dest/destination_factory.h"
#include "dest/file_destination.h"
#include "dest/nbd_destination.h"
#include "dest/uring_queue.h"

namespace fanout {

namespace {

// The destinations opened so far by what they are, to refuse the next one
// if it is the same storage under another name.
class SameStorage {
 public:
  // Whether (id, name) is a destination seen before, or overlaps one.
  Status Check(const DestinationIdentity& id, const std::string& name) const {
    Status s = NamedBefore(id, name);
    if (s.ok()) s = Overlaps(id, name);
    return s;
  }
  void Add(const DestinationIdentity& id, const std::string& name) {
    seen_.emplace(id, name);
    if (auto b = LoopBackingOf(id)) loops_.emplace(b->file, std::make_pair(name, b->partition));
  }

 private:
  Status NamedBefore(const DestinationIdentity& id, const std::string& name) const {
    auto it = seen_.find(id);
    if (it == seen_.end()) return Status::OK();
    return Status::InvalidArgument("dest=" + name + ": the same " + IdentityName(id.what) +
                                   " as dest=" + it->second + "; name each destination once");
  }
  // A loop device (or a partition of one) and the file it is over are one
  // storage under two identities.
  Status Overlaps(const DestinationIdentity& id, const std::string& name) const {
    if (auto b = LoopBackingOf(id)) {
      auto it = seen_.find(b->file);
      if (it != seen_.end())
        return Status::InvalidArgument(
            "dest=" + name + ": " +
            (b->partition ? "a partition of a loop device" : "a loop device") +
            " over dest=" + it->second + " (the same storage); name each destination once");
    } else if (id.what == DestinationIdentity::What::kFile) {
      auto it = loops_.find(id);
      if (it != loops_.end())
        return Status::InvalidArgument("dest=" + name + ": the backing file of " +
                                       (it->second.second ? "the loop device under " : "") +
                                       "dest=" + it->second.first +
                                       " (the same storage); name each destination once");
    }
    return Status::OK();
  }

  // Every path destination by what it is, with the name it was first given.
  std::map<DestinationIdentity, std::string> seen_;
  // The backing file's identity, with the device's name and whether it is
  // a partition, for each loop device seen.
  std::map<DestinationIdentity, std::pair<std::string, bool>> loops_;
};

// Each writer makes its own ring when it starts; find out now, once,
// whether this kernel (or its seccomp policy) allows one at all.
FileIoOptions WithUringProbed(FileIoOptions io, Logger* log) {
  if (!io.uring) return io;
  std::unique_ptr<UringQueue> probe;
  Status s = UringQueue::Create(FileDestination::kQueueDepth, &probe);
  if (!s.ok()) {
    io.uring = false;
    log->Debug(LogTopic::kGeneral, "io=uring: " + s.message() + "; falling back to io=sync");
  }
  return io;
}

}  // namespace

Status DestinationSet::Open(const std::vector<DestinationSpec>& specs, FileIoOptions io,
                            Logger* log, DestinationSet* out) {
  io = WithUringProbed(io, log);
  DestinationSet set;
  SameStorage same;
  std::set<std::string> uris;
  for (const DestinationSpec& spec : specs) {
    // The same NBD URI twice would write every byte to that export twice
    // over two connections; paths are compared by what they are.
    const bool path = spec.source == DestinationSpec::Source::kPath;
    const bool uri = path && IsNbdUri(spec.value);
    Status s;
    if (uri && !uris.insert(spec.value).second)
      s = Status::InvalidArgument("dest=" + spec.value +
                                  ": named twice; name each destination once");
    // Before opening: a second open of the same block device would fail
    // its O_EXCL ("in use"), which is not the reason.
    if (s.ok() && path && !uri)
      if (auto id = IdentityOfPath(spec.value)) s = same.Check(*id, spec.value);
    std::unique_ptr<Destination> d;
    if (s.ok()) s = OpenDestination(spec, &d, log, io);
    // Again as opened (a file that did not exist has an identity only now,
    // and the path may have changed under us since the stat above).  The
    // same file as another is not ours to remove.
    if (s.ok())
      if (auto id = d->identity()) {
        s = same.Check(*id, d->name());
        if (s.ok()) {
          same.Add(*id, d->name());
          set.identities_.emplace_back(d->name(), *id);
        }
      }
    if (!s.ok()) {
      set.Abandon();
      return s;
    }
    set.dests_.push_back(std::move(d));
  }
  *out = std::move(set);
  return Status::OK();
}

bool DestinationSet::all_seekable() const {
  return std::all_of(dests_.begin(), dests_.end(), [](const auto& d) { return d->seekable(); });
}

bool DestinationSet::none_seekable() const {
  return std::none_of(dests_.begin(), dests_.end(), [](const auto& d) { return d->seekable(); });
}

Status DestinationSet::ExportSize(std::optional<uint64_t> param, uint64_t* size) const {
  std::optional<uint64_t> smallest;
  for (const auto& d : dests_)
    if (auto fs = d->fixed_size()) smallest = smallest ? std::min(*smallest, *fs) : *fs;
  if (param) {
    *size = *param;
  } else if (smallest && *smallest > 0) {
    *size = *smallest;
  } else {
    return Status::InvalidArgument(
        "size=: required, since no destination has a fixed size (a block device, an NBD server "
        "or an existing non-empty file); give size=SIZE");
  }
  return Status::OK();
}

Status DestinationSet::Prepare(uint64_t size) {
  for (const auto& d : dests_) {
    Status s = d->Prepare(size);
    if (!s.ok()) {
      Abandon();
      return s;
    }
  }
  return Status::OK();
}

void DestinationSet::Abandon() {
  for (auto& d : dests_) d->Abandon();
  dests_.clear();
  identities_.clear();
}

std::vector<std::unique_ptr<Destination>> DestinationSet::Take() {
  identities_.clear();
  std::vector<std::unique_ptr<Destination>> dests = std::move(dests_);
  dests_.clear();
  return dests;
}

}  // namespace fanout
