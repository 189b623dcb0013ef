// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

#include "report/status_json.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "dest/destination.h"

namespace fanout {

namespace {

// The directory part of path and its last component ("." for a bare name).
std::pair<std::string, std::string> SplitPath(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return {".", path};
  return {slash == 0 ? "/" : path.substr(0, slash), path.substr(slash + 1)};
}

Status Refuse(const std::string& path, const std::string& why) {
  return Status::InvalidArgument("status=" + path + ": " + why);
}

}  // namespace

// "version" says which release wrote the file.  PACKAGE_VERSION is
// configure.ac's AC_INIT version, passed by automake's DEFS on every
// compiler command line (there is no config.h).
#ifndef PACKAGE_VERSION
#error "PACKAGE_VERSION is not defined: build through configure"
#endif

std::string StatusTempPath(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return "." + path + ".tmp";
  return path.substr(0, slash + 1) + "." + path.substr(slash + 1) + ".tmp";
}

Status CheckStatusFile(const std::string& path, const std::vector<NamedIdentity>& taken) {
  const auto [dir, base] = SplitPath(path);
  if (base.empty() || base == "." || base == "..")
    return Refuse(path, "names a directory; give the file to write");
  struct stat st;
  if (stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return Refuse(path, "is a directory; give the file to write");
    const auto id = IdentityOf(st);
    for (const NamedIdentity& t : taken)
      if (id && *id == t.identity)
        return Refuse(path, "the same " + std::string(IdentityName(id->what)) + " as " +
                                t.parameter + "; the status file would overwrite it");
    if (!S_ISREG(st.st_mode))
      return Refuse(path, std::string("is a ") + (id ? IdentityName(id->what) : "socket") +
                              "; the status file is replaced by rename(2), so it must be a "
                              "regular file or not exist yet");
  }
  struct stat dst;
  if (stat(dir.c_str(), &dst) == -1 || !S_ISDIR(dst.st_mode))
    return Refuse(path, "the directory " + dir + " does not exist");
  const std::string tmp = StatusTempPath(path);
  struct stat tst;
  const bool tmp_existed = stat(tmp.c_str(), &tst) == 0;
  if (tmp_existed) {
    const auto id = IdentityOf(tst);
    for (const NamedIdentity& t : taken)
      if (id && *id == t.identity)
        return Refuse(path, "its temporary file " + tmp + " is the same " + IdentityName(id->what) +
                                " as " + t.parameter + "; the status file would destroy it");
    if (!S_ISREG(tst.st_mode))
      return Refuse(path, "its temporary file " + tmp + " exists and is not a regular file");
  }
  // No O_TRUNC: a temporary file left by an earlier run is ours to
  // overwrite later, but nothing is lost by leaving it as it is now.
  const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd == -1) {
    const int err = errno;
    return Refuse(path,
                  "cannot create its temporary file " + tmp + " in " + dir + ": " + strerror(err));
  }
  close(fd);
  if (!tmp_existed) unlink(tmp.c_str());
  return Status::OK();
}

std::string StatusJson(const Snapshot& snap) {
  using nlohmann::json;
  json dests = json::array();
  for (const DestinationSnapshot& d : snap.destinations) {
    json j = {
        {"name", d.name},
        {"kind", KindName(d.kind)},
        {"state", d.behind_bytes ? "behind" : StateName(d.state)},
        {"bytes", d.bytes},
        {"rate", d.rate},
        {"elapsed", d.seconds},
        {"error", nullptr},
        {"errno", nullptr},
        {"offset", nullptr},
        {"exit_status", nullptr},
        {"verified_bytes", nullptr},
        {"stalled", d.stalled_seconds.has_value()},
        {"stalled_seconds", nullptr},
        {"behind_bytes", nullptr},
        {"fell_behind", d.fell_behind},
        {"caught_up_bytes", d.caught_up_bytes},
        {"data_bytes", d.data_bytes},
        {"zero_bytes", d.zero_bytes},
        {"skipped_bytes", d.skipped_bytes},
        {"holds", d.holds_data_ranges ? "data-ranges" : "image"},
        {"repaired_pages", nullptr},
    };
    if (d.behind_bytes) j["behind_bytes"] = *d.behind_bytes;
    if (d.stalled_seconds) j["stalled_seconds"] = *d.stalled_seconds;
    if (d.failure) {
      j["error"] = d.failure->message;
      const char* name = strerrorname_np(d.failure->err);
      if (name) j["errno"] = name;
      j["offset"] = d.failure->offset;
    }
    if (d.exit_status) j["exit_status"] = *d.exit_status;
    if (d.verified_bytes) j["verified_bytes"] = *d.verified_bytes;
    if (d.repaired_pages) j["repaired_pages"] = *d.repaired_pages;
    dests.push_back(std::move(j));
  }
  json doc = {
      {"schema", kStatusSchema},
      {"version", PACKAGE_VERSION},
      {"size", snap.size},
      {"committed", snap.committed},
      {"state", RunStateName(snap.state)},
      {"interrupted", nullptr},
      {"elapsed", snap.elapsed},
      {"pid", snap.pid},
      {"updated", snap.updated},
      {"last_write", nullptr},
      {"refused_requests", snap.refused_requests},
      {"lag", snap.lag},
      {"catch_up_log_bytes", snap.catch_up_log_bytes},
      {"sha256", nullptr},
      {"sha256_unavailable", nullptr},
      {"detect_zeroes", snap.detect_zeroes},
      {"holes", snap.skip_holes ? "skip" : "write"},
      {"image_bytes", snap.image_bytes},
      {"image_sha256", nullptr},
      {"destinations", std::move(dests)},
  };
  if (snap.sha256) doc["sha256"] = *snap.sha256;
  if (snap.image_sha256) doc["image_sha256"] = *snap.image_sha256;
  if (!snap.interrupted_reason.empty()) doc["interrupted"] = snap.interrupted_reason;
  if (snap.last_write) doc["last_write"] = *snap.last_write;
  if (!snap.sha256_unavailable.empty()) doc["sha256_unavailable"] = snap.sha256_unavailable;
  return doc.dump(2) + "\n";
}

Status WriteStatusFile(const std::string& path, const Snapshot& snapshot) {
  const std::string text = StatusJson(snapshot);
  // The temporary file sits beside the real one, so rename(2) replaces it
  // atomically (same file system).
  const std::string tmp = StatusTempPath(path);
  const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd == -1) return Status::FromErrno("status=" + path + ": " + tmp);
  Status s = WriteFully(fd, reinterpret_cast<const uint8_t*>(text.data()), text.size(), 0,
                        "status=" + path);
  if (close(fd) == -1 && s.ok()) s = Status::FromErrno("status=" + path + ": close");
  if (s.ok() && rename(tmp.c_str(), path.c_str()) == -1)
    s = Status::FromErrno("status=" + path + ": rename");
  if (!s.ok()) unlink(tmp.c_str());
  return s;
}

}  // namespace fanout
