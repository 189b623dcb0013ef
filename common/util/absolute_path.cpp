// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

#include "util/absolute_path.h"

#include <unistd.h>

#include <climits>

namespace fanout {

std::optional<std::string> WorkingDirectory() {
  char cwd[PATH_MAX];
  if (getcwd(cwd, sizeof cwd) == nullptr) return std::nullopt;
  return std::string(cwd);
}

std::string AbsolutePath(const std::string& path) {
  if (!path.empty() && path[0] == '/') return path;
  const std::optional<std::string> cwd = WorkingDirectory();
  if (!cwd) return path;
  return *cwd + "/" + path;
}

}  // namespace fanout
