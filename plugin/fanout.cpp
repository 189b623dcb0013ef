// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// nbdkit-fanout-plugin: the nbdkit glue, and nothing else.
//
// Every callback turns nbdkit's arguments into one call on the engine
// (common/engine.h) and a failed fanout::Status back into nbdkit_error +
// errno.  What the tee filter shares with it (logging, the exit status) is
// in glue/; every callback is registered Guarded (glue/callback.h), so no
// exception reaches nbdkit.  All connections share the one engine; the engine does its own
// locking, so the thread model is PARALLEL.

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include <cstdio>
#include <memory>
#include <string>

#include "callback.h"
#include "config/config.h"
#include "engine/engine.h"
#include "exit_status.h"
#include "interruption.h"
#include "nbdkit_logger.h"
#include "terminal.h"
#include "util/logger.h"
#include "util/rounding.h"

#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL

// Debug flags: -D fanout.window=1, -D fanout.writer=1.
extern "C" {
NBDKIT_DLL_PUBLIC int fanout_debug_window = 0;
NBDKIT_DLL_PUBLIC int fanout_debug_writer = 0;
}

namespace {

fanout::glue::NbdkitLogger logger("fanout", &fanout_debug_window, &fanout_debug_writer);
std::unique_ptr<fanout::ConfigParser> parser;
std::unique_ptr<fanout::Engine> engine;

int Fail(const fanout::Status& s) {
  nbdkit_set_error(s.err());
  return -1;
}

int Report(const fanout::Status& s) {
  if (s.ok()) return 0;
  nbdkit_error("%s", s.message().c_str());
  return Fail(s);
}

void fanout_load(void) {
  fanout::glue::PrepareProcess();
  parser = std::make_unique<fanout::ConfigParser>(
      [](const char* s) -> int64_t { return nbdkit_parse_size(s); },
      [](const char* s) -> int { return nbdkit_parse_bool(s); });
}

void fanout_unload(void) {
  engine.reset();
  parser.reset();
}

int fanout_config(const char* key, const char* value) {
  return Report(parser->Set(key, value));
}

int fanout_config_complete(void) {
  fanout::Status s = parser->Complete();
  if (s.ok()) s = fanout::Engine::OpenAndSize(parser->config(), &logger, &engine);
  if (s.ok()) fanout::glue::PrepareExitStatus();
  return Report(s);
}

int fanout_after_fork(void) {
  // Threads start here, never earlier: nbdkit forks after configuration.
  const fanout::glue::Terminal terminal = fanout::glue::ProbeStderr();
  engine->Start(terminal.is_terminal, terminal.width);
  fanout::glue::ServingProcessStarted();
  fanout::glue::WatchSignals([](const std::string& why) { engine->Interrupt(why); });
  return 0;
}

void fanout_cleanup(void) {
  // End of stream: nbdkit has closed every connection (in --run mode, the
  // command has exited).
  if (!engine) return;
  fanout::glue::SettleSignals();
  fanout::Status s = engine->Finish();
  fanout::glue::StopWatchingSignals();
  if (!s.ok()) {
    nbdkit_error("%s", s.message().c_str());
    fanout::glue::RecordFailure();
  }
}

void fanout_dump_plugin(void) {
  // The same PACKAGE_VERSION (configure.ac) as version= above it, the
  // status file's "version" and the man pages' footer.
  printf("fanout_version=%s\n", PACKAGE_VERSION);
  printf("fanout_window=yes\n");
  printf("fanout_ahead=yes\n");
  printf("fanout_spill=yes\n");
  printf("fanout_lag=yes\n");
  printf("fanout_dest_file=yes\n");
  printf("fanout_dest_block=yes\n");
  printf("fanout_dest_fifo=yes\n");
  printf("fanout_cmd=yes\n");
  printf("fanout_on_error=yes\n");
  printf("fanout_quorum=yes\n");
  printf("fanout_status=yes\n");
  printf("fanout_progress=yes\n");
  printf("fanout_exit_status=yes\n");
  printf("fanout_verify=yes\n");
  printf("fanout_verify_repair=yes\n");
  printf("fanout_detect_zeroes=yes\n");
  printf("fanout_holes=yes\n");
  printf("fanout_interrupted=yes\n");
}

void* fanout_open(int readonly) {
  // One engine serves every connection; the handle carries nothing.
  static int handle;
  fanout::glue::ConnectionOpened();
  return &handle;
}

void fanout_close(void*) {
  fanout::glue::ConnectionClosed();
}

int64_t fanout_get_size(void*) {
  return engine->size();
}

int fanout_can_multi_conn(void*) {
  // With multi-conn nbdcopy writes a region per connection at once, which
  // no stream can follow: advertise it only when every destination seeks.
  return engine->all_seekable() ? 1 : 0;
}

// A maximum request keeps nbdkit's per-thread request buffers (one per
// thread, as large as the largest request it served) to max_request().
// Minimum 1: any byte may be written.  Preferred 4096: a page, below which
// the page hashes keep part-written pages.
int fanout_block_size(void*, uint32_t* minimum, uint32_t* preferred, uint32_t* maximum) {
  *minimum = 1;
  *preferred = fanout::kPageSize;
  *maximum = engine->max_request();
  return 0;
}

int fanout_can_flush(void*) {
  return 1;
}
int fanout_can_trim(void*) {
  return 1;
}
int fanout_can_zero(void*) {
  return 1;
}
// Zeroing never writes data here (a zero extent, or nothing in the window),
// so it is always fast.
int fanout_can_fast_zero(void*) {
  return 1;
}
int fanout_can_fua(void*) {
  return NBDKIT_FUA_EMULATE;
}

int fanout_pread(void*, void* buf, uint32_t count, uint64_t offset, uint32_t) {
  fanout::Status s = engine->Read(buf, count, offset);
  return s.ok() ? 0 : Fail(s);
}

int fanout_pwrite(void*, const void* buf, uint32_t count, uint64_t offset, uint32_t) {
  fanout::Status s = engine->Write(buf, count, offset);
  return s.ok() ? 0 : Fail(s);
}

int fanout_zero(void*, uint32_t count, uint64_t offset, uint32_t) {
  fanout::Status s = engine->Zero(count, offset);
  return s.ok() ? 0 : Fail(s);
}

// Trim is zero: the export must read back what every destination holds.
int fanout_trim(void*, uint32_t count, uint64_t offset, uint32_t) {
  fanout::Status s = engine->Zero(count, offset);
  return s.ok() ? 0 : Fail(s);
}

int fanout_flush(void*, uint32_t) {
  fanout::Status s = engine->Flush();
  return s.ok() ? 0 : Fail(s);
}

struct nbdkit_plugin MakePlugin() {
  struct nbdkit_plugin p = {};
  p.name = "fanout";
  p.longname = "nbdkit fanout plugin";
  p.version = PACKAGE_VERSION;
  p.description = "write one image to several destinations at once";
  p.load = fanout::glue::Guarded<fanout_load>;
  p.unload = fanout::glue::Guarded<fanout_unload>;
  p.config = fanout::glue::Guarded<fanout_config>;
  p.config_complete = fanout::glue::Guarded<fanout_config_complete>;
  p.config_help = nullptr;  // set below from the engine's text
  p.magic_config_key = "dest";
  p.after_fork = fanout::glue::Guarded<fanout_after_fork>;
  p.cleanup = fanout::glue::Guarded<fanout_cleanup>;
  p.dump_plugin = fanout::glue::Guarded<fanout_dump_plugin>;
  p.open = fanout::glue::Guarded<fanout_open>;
  p.close = fanout::glue::Guarded<fanout_close>;
  p.get_size = fanout::glue::Guarded<fanout_get_size>;
  p.can_multi_conn = fanout::glue::Guarded<fanout_can_multi_conn>;
  p.block_size = fanout::glue::Guarded<fanout_block_size>;
  p.can_write = [](void*) { return 1; };
  p.can_flush = fanout::glue::Guarded<fanout_can_flush>;
  p.can_trim = fanout::glue::Guarded<fanout_can_trim>;
  p.can_zero = fanout::glue::Guarded<fanout_can_zero>;
  p.can_fast_zero = fanout::glue::Guarded<fanout_can_fast_zero>;
  p.can_fua = fanout::glue::Guarded<fanout_can_fua>;
  p.pread = fanout::glue::Guarded<fanout_pread>;
  p.pwrite = fanout::glue::Guarded<fanout_pwrite>;
  p.zero = fanout::glue::Guarded<fanout_zero>;
  p.trim = fanout::glue::Guarded<fanout_trim>;
  p.flush = fanout::glue::Guarded<fanout_flush>;
  p.errno_is_preserved = 0;
  return p;
}

struct nbdkit_plugin plugin = [] {
  struct nbdkit_plugin p = MakePlugin();
  p.config_help = fanout::ConfigParser::Help();
  return p;
}();

}  // namespace

NBDKIT_REGISTER_PLUGIN(plugin)
