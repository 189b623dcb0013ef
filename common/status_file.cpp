#include "status_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "destination.h"

namespace fanout {

std::string StatusJson(const Snapshot& snap) {
  using nlohmann::json;
  json dests = json::array();
  for (const DestinationSnapshot& d : snap.destinations) {
    json j = {
        {"name", d.name},
        {"kind", KindName(d.kind)},
        {"state", StateName(d.state)},
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
    };
    if (d.stalled_seconds) j["stalled_seconds"] = *d.stalled_seconds;
    if (d.failure) {
      j["error"] = d.failure->message;
      const char* name = strerrorname_np(d.failure->err);
      if (name) j["errno"] = name;
      j["offset"] = d.failure->offset;
    }
    if (d.exit_status) j["exit_status"] = *d.exit_status;
    if (d.verified_bytes) j["verified_bytes"] = *d.verified_bytes;
    dests.push_back(std::move(j));
  }
  json doc = {
      {"size", snap.size},
      {"committed", snap.committed},
      {"state", RunStateName(snap.state)},
      {"elapsed", snap.elapsed},
      {"refused_requests", snap.refused_requests},
      {"sha256", nullptr},
      {"sha256_unavailable", nullptr},
      {"destinations", std::move(dests)},
  };
  if (snap.sha256) doc["sha256"] = *snap.sha256;
  if (!snap.sha256_unavailable.empty()) doc["sha256_unavailable"] = snap.sha256_unavailable;
  return doc.dump(2) + "\n";
}

Status WriteStatusFile(const std::string& path, const Snapshot& snapshot) {
  const std::string text = StatusJson(snapshot);
  // The temporary file sits beside the real one, so rename(2) replaces it
  // atomically (same file system).
  const std::string tmp = path + ".tmp";
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
