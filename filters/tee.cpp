// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// nbdkit-tee-filter: the nbdkit glue that mirrors the writes of any plugin
// to the fanout engine's destinations, and nothing else.
//
// Every write, zero and trim goes to the plugin first; only what the plugin
// accepted goes to the engine (common/engine.h), so the tee destinations
// never hold a byte the plugin refused.  Reads, extents and cache come from
// the plugin alone.  A flush flushes the plugin, then the engine.
//
// The engine is opened at configuration time (a bad tee= fails before
// serving) but sized at the first writable connection's .prepare, since
// the size is the plugin's.  The tee destinations mirror one export: a
// writable connection to another export name is refused.
//
// Every callback is registered Guarded (glue/callback.h), so no exception
// reaches nbdkit.
//
// Overlapping requests hold a RangeLock across the plugin and the engine,
// so both see them in the same order; the thread model stays PARALLEL.

#define NBDKIT_API_VERSION 2
#include <nbdkit-filter.h>

#include <algorithm>
#include <cinttypes>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "callback.h"
#include "config/tee_config.h"
#include "engine/engine.h"
#include "exit_status.h"
#include "interruption.h"
#include "nbdkit_logger.h"
#include "terminal.h"
#include "util/logger.h"
#include "util/mutex.h"
#include "util/range_lock.h"
#include "util/rounding.h"

// Debug flags: -D tee.window=1, -D tee.writer=1.
extern "C" {
NBDKIT_DLL_PUBLIC int tee_debug_window = 0;
NBDKIT_DLL_PUBLIC int tee_debug_writer = 0;
}

namespace {

using fanout::Status;

// Messages name the filter's parameters (tee=, tee-cmd=, tee-window=).
fanout::glue::NbdkitLogger logger("tee", &tee_debug_window, &tee_debug_writer,
                                  fanout::TeeConfigParser::UserSpelling);
std::unique_ptr<fanout::TeeConfigParser> parser;
std::unique_ptr<fanout::Engine> engine;
fanout::RangeLock ranges;

// The export the tee destinations mirror: the first writable connection's.
fanout::Mutex export_mu;
std::optional<std::string> mirrored_export GUARDED_BY(export_mu);

struct Handle {
  std::string exportname;
};

// How much of a trimmed range is read back from the plugin at once.
constexpr uint32_t kReadBackPiece = 4u << 20;

int Fail(const Status& s, int* err) {
  *err = s.err();
  return -1;
}

// The engine's data requests log their own errors.
int Result(const Status& s, int* err) {
  return s.ok() ? 0 : Fail(s, err);
}

int Report(const Status& s) {
  if (s.ok()) return 0;
  nbdkit_error("%s", fanout::TeeConfigParser::UserSpelling(s.message()).c_str());
  return -1;
}

bool AllZero(const uint8_t* p, size_t n) {
  return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

void tee_load(void) {
  fanout::glue::PrepareProcess();
  parser = std::make_unique<fanout::TeeConfigParser>(
      [](const char* s) -> int64_t { return nbdkit_parse_size(s); },
      [](const char* s) -> int { return nbdkit_parse_bool(s); });
}

void tee_unload(void) {
  engine.reset();
  parser.reset();
}

int tee_config(nbdkit_next_config* next, nbdkit_backend* nxdata, const char* key,
               const char* value) {
  if (!fanout::TeeConfigParser::IsTeeKey(key)) {
    parser->NotePluginParameter(key, value);
    return next(nxdata, key, value);
  }
  return Report(parser->Set(key, value));
}

int tee_config_complete(nbdkit_next_config_complete* next, nbdkit_backend* nxdata) {
  Status s = parser->Complete();
  if (s.ok()) s = fanout::Engine::OpenUnsized(parser->config(), &logger, &engine);
  if (s.ok()) fanout::glue::PrepareExitStatus();
  if (Report(s) == -1) return -1;
  return next(nxdata);
}

int tee_after_fork(nbdkit_backend*) {
  // The engine's threads start with the first writable connection
  // (tee_prepare); telling an interrupted run starts now.
  fanout::glue::ServingProcessStarted();
  fanout::glue::WatchSignals([](const std::string& why) { engine->Interrupt(why); });
  return 0;
}

void tee_cleanup(nbdkit_backend*) {
  // End of stream: every connection has closed (in --run mode, the command
  // has exited).
  if (!engine) return;
  const bool prepared = engine->prepared();
  fanout::glue::SettleSignals();
  Status s = engine->Finish();
  fanout::glue::StopWatchingSignals();
  if (!s.ok()) {
    logger.Error(s.message());
    fanout::glue::RecordFailure();
  } else if (!prepared) {
    logger.Notice("no client connected for writing: the tee destinations were not written");
  }
}

void* tee_open(nbdkit_next_open* next, nbdkit_context* context, int readonly,
               const char* exportname, int is_tls) {
  if (next(context, readonly, exportname) == -1) return nullptr;
  fanout::glue::ConnectionOpened();
  return new Handle{exportname};
}

void tee_close(void* handle) {
  fanout::glue::ConnectionClosed();
  delete static_cast<Handle*>(handle);
}

int tee_prepare(nbdkit_next* next, void* handle, int readonly) {
  // A read-only connection changes nothing: it neither sizes the engine
  // nor binds the export.
  if (readonly) return 0;
  const std::string& name = static_cast<Handle*>(handle)->exportname;
  {
    fanout::MutexLock lock(&export_mu);
    if (!mirrored_export) {
      mirrored_export = name;
    } else if (*mirrored_export != name) {
      nbdkit_error(
          "tee: the tee destinations mirror export '%s'; a writable connection to "
          "export '%s' is refused",
          mirrored_export->c_str(), name.c_str());
      return -1;
    }
  }
  const int64_t size = next->get_size(next);
  if (size == -1) return -1;
  Status s = engine->Prepare(size);
  if (!s.ok()) return Report(s);
  // Threads start here, after nbdkit has forked, and only once.
  const fanout::glue::Terminal terminal = fanout::glue::ProbeStderr();
  engine->Start(terminal.is_terminal, terminal.width);
  return 0;
}

int tee_can_multi_conn(nbdkit_next* next, void*) {
  // With multi-conn nbdcopy writes a region per connection at once, which
  // no stream can follow: a stream tee destination turns it off, whatever
  // the plugin says.  Otherwise it is the plugin's to offer: the engine's
  // flush covers every connection's writes.
  if (!engine->all_seekable()) return 0;
  return next->can_multi_conn(next);
}

// The tee's maximum request joins the plugin's, so that nbdkit's
// per-thread request buffers stay within Engine::max_request().
int tee_block_size(nbdkit_next* next, void*, uint32_t* minimum, uint32_t* preferred,
                   uint32_t* maximum) {
  if (next->block_size(next, minimum, preferred, maximum) == -1) return -1;
  const uint32_t ours = engine->max_request();
  if (*minimum == 0) {  // the plugin gives no block size
    *minimum = 1;
    *preferred = fanout::kPageSize;
    *maximum = ours;
    return 0;
  }
  // nbdkit requires a maximum that is a multiple of the minimum, and
  // minimum <= preferred <= maximum.
  *maximum = std::min(*maximum, std::max(*minimum, ours - ours % *minimum));
  while (*preferred > *maximum && *preferred > 512 && *preferred / 2 >= *minimum) *preferred /= 2;
  return 0;
}

// A flush also reaches the tee destinations, whether or not the plugin
// can flush.
int tee_can_flush(nbdkit_next* next, void*) {
  return next->can_flush(next) == -1 ? -1 : 1;
}

// Every request that changes bytes: asked of the failure policy first, so
// that a refused request changes neither side; then the plugin and the
// engine under the range lock, so that overlapping requests reach both in
// the same order; FUA flushes the tee destinations after.  both(&s) does
// the two steps: -1 when the plugin failed (err set), else 0 with the
// engine's status in s.
template <typename Both>
int Mirrored(uint32_t count, uint64_t offset, uint32_t flags, int* err, Both both) {
  Status s = engine->AdmitRequest();
  if (!s.ok()) return Fail(s, err);
  {
    auto held = ranges.Lock(offset, count);
    if (both(&s) == -1) return -1;
  }
  if (s.ok() && (flags & NBDKIT_FLAG_FUA)) s = engine->Flush();
  return Result(s, err);
}

int tee_pwrite(nbdkit_next* next, void*, const void* buf, uint32_t count, uint64_t offset,
               uint32_t flags, int* err) {
  return Mirrored(count, offset, flags, err, [&](Status* s) {
    if (next->pwrite(next, buf, count, offset, flags, err) == -1) return -1;
    *s = engine->Write(buf, count, offset);
    return 0;
  });
}

int tee_zero(nbdkit_next* next, void*, uint32_t count, uint64_t offset, uint32_t flags, int* err) {
  return Mirrored(count, offset, flags, err, [&](Status* s) {
    // A fast zero the plugin cannot do fails here (ENOTSUP), before the
    // engine sees it.
    if (next->zero(next, count, offset, flags, err) == -1) return -1;
    *s = engine->Zero(count, offset);
    return 0;
  });
}

// Trim is advisory: after it the plugin may return zeros (a punched hole),
// the old bytes (a file system without hole punching, a plugin that ignores
// trim) or anything else.  The tee destinations must hold what the plugin
// will return, so read the range back from the plugin, still under the
// range lock, and send it on: all-zero pieces as zero extents (the usual
// case, and cheap), others as data.
int tee_trim(nbdkit_next* next, void*, uint32_t count, uint64_t offset, uint32_t flags, int* err) {
  return Mirrored(count, offset, flags, err, [&](Status* s) {
    if (next->trim(next, count, offset, flags, err) == -1) return -1;
    std::vector<uint8_t> buf(std::min(count, kReadBackPiece));
    for (uint32_t done = 0; done < count && s->ok();) {
      const uint32_t n = std::min(count - done, kReadBackPiece);
      const uint64_t at = offset + done;
      if (next->pread(next, buf.data(), n, at, 0, err) == -1) {
        nbdkit_error("tee: trim at %" PRIu64 ": the plugin's bytes at %" PRIu64
                     " could not be read back for the tee destinations",
                     offset, at);
        return -1;
      }
      *s = AllZero(buf.data(), n) ? engine->Zero(n, at) : engine->Write(buf.data(), n, at);
      done += n;
    }
    return 0;
  });
}

int tee_flush(nbdkit_next* next, void*, uint32_t flags, int* err) {
  if (next->can_flush(next) == 1 && next->flush(next, flags, err) == -1) return -1;
  // Nothing to flush before the first writable connection.
  if (!engine->prepared()) return 0;
  return Result(engine->Flush(), err);
}

struct nbdkit_filter MakeFilter() {
  struct nbdkit_filter f = {};
  f.name = "tee";
  f.longname = "nbdkit tee filter";
  f.description = "mirror the writes of any plugin to files, devices, FIFOs and commands";
  f.load = fanout::glue::Guarded<tee_load>;
  f.unload = fanout::glue::Guarded<tee_unload>;
  f.config = fanout::glue::Guarded<tee_config>;
  f.config_complete = fanout::glue::Guarded<tee_config_complete>;
  f.config_help = fanout::TeeConfigParser::Help();
  f.after_fork = fanout::glue::Guarded<tee_after_fork>;
  f.cleanup = fanout::glue::Guarded<tee_cleanup>;
  f.open = fanout::glue::Guarded<tee_open>;
  f.close = fanout::glue::Guarded<tee_close>;
  f.prepare = fanout::glue::Guarded<tee_prepare>;
  f.can_multi_conn = fanout::glue::Guarded<tee_can_multi_conn>;
  f.can_flush = fanout::glue::Guarded<tee_can_flush>;
  f.block_size = fanout::glue::Guarded<tee_block_size>;
  f.pwrite = fanout::glue::Guarded<tee_pwrite>;
  f.zero = fanout::glue::Guarded<tee_zero>;
  f.trim = fanout::glue::Guarded<tee_trim>;
  f.flush = fanout::glue::Guarded<tee_flush>;
  return f;
}

struct nbdkit_filter filter = MakeFilter();

}  // namespace

NBDKIT_REGISTER_FILTER(filter)
