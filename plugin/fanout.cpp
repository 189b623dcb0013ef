// nbdkit-fanout-plugin: the nbdkit glue, and nothing else.
//
// Every callback turns nbdkit's arguments into one call on the engine
// (common/engine.h) and a failed fanout::Status back into nbdkit_error +
// errno.  All connections share the one engine; the engine does its own
// locking, so the thread model is PARALLEL.

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "config.h"
#include "engine.h"
#include "logger.h"

#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL

// Debug flags: -D fanout.window=1, -D fanout.writer=1.
extern "C" {
NBDKIT_DLL_PUBLIC int fanout_debug_window = 0;
NBDKIT_DLL_PUBLIC int fanout_debug_writer = 0;
}

namespace {

class NbdkitLogger final : public fanout::Logger {
 public:
  void Error(const std::string& msg) override { nbdkit_error("%s", msg.c_str()); }
  void Notice(const std::string& msg) override {
    // The summary is for the user whatever -v says; nbdkit_debug would hide
    // it and nbdkit_error would call it an error.
    fprintf(stderr, "nbdkit: fanout: %s\n", msg.c_str());
  }
  bool DebugEnabled(fanout::LogTopic topic) const override {
    switch (topic) {
      case fanout::LogTopic::kGeneral: return true;  // nbdkit_debug checks -v
      case fanout::LogTopic::kWindow: return fanout_debug_window != 0;
      case fanout::LogTopic::kWriter: return fanout_debug_writer != 0;
    }
    return false;
  }
  void Debug(fanout::LogTopic, const std::string& msg) override {
    nbdkit_debug("%s", msg.c_str());
  }
};

NbdkitLogger logger;
std::unique_ptr<fanout::ConfigParser> parser;
std::unique_ptr<fanout::Engine> engine;

// The exit status.  nbdkit 1.32 has no API for a plugin to set it, and the
// process that exits last is not always the one that served: with --run,
// nbdkit forks after .config_complete, the child serves (and runs .cleanup,
// where the end of the stream happens) and the parent runs the command,
// waits for the child, then calls exit() with the command's status.
//
// So: a page of shared memory, mapped before that fork, where the serving
// process records that a destination failed; and an on_exit(3) handler,
// registered before the fork too, which runs in whichever process exits,
// after nbdkit's own clean-up (socket, temporary directory, pidfile are all
// done before exit() is called).  It sees the status exit() was given, and
// only when that is 0 and a destination failed does it flush stdio and
// _exit(1).  A non-zero status (the --run command's own failure) is left
// alone.  The handler skips the exit handlers registered before it and the
// libraries' destructors, which is harmless at that point.  The plugin is
// linked with -z nodelete so the handler's code is still mapped after nbdkit
// dlcloses the plugin in the serving process.
struct SharedOutcome {
  std::atomic<int> failed_destinations;
};
SharedOutcome* outcome = nullptr;

void ExitStatusHandler(int status, void*) {
  if (status == 0 && outcome && outcome->failed_destinations.load() > 0) {
    fflush(nullptr);
    _exit(EXIT_FAILURE);
  }
}

void PrepareExitStatus() {
  void* p = mmap(nullptr, sizeof(SharedOutcome), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                 -1, 0);
  if (p == MAP_FAILED) {
    nbdkit_debug("mmap: %m: failed destinations will not change the exit status");
    return;
  }
  outcome = new (p) SharedOutcome{};
  on_exit(ExitStatusHandler, nullptr);
}

int Fail(const fanout::Status& s) {
  nbdkit_set_error(s.err());
  return -1;
}

int Report(const fanout::Status& s) {
  if (s.ok()) return 0;
  nbdkit_error("%s", s.message().c_str());
  return Fail(s);
}

#ifdef FANOUT_SANITIZER_BUILD
// With a sanitizer runtime preloaded into an nbdkit that was not built with
// it, exit() can deadlock in a library destructor (p11-kit's freelocale on
// glibc's locale lock) after any message carrying strerror text.  The
// sanitizers report as they go (abort_on_error / halt_on_error), so ending
// the process here, with the same status, loses nothing.
void SanitizerExitHandler(int status, void*) {
  fflush(nullptr);
  _exit(status);
}
#endif

void fanout_load(void) {
#ifdef FANOUT_SANITIZER_BUILD
  // The tests preload the sanitizer runtime into nbdkit; keep it out of the
  // commands nbdkit and this plugin start.
  unsetenv("LD_PRELOAD");
  on_exit(SanitizerExitHandler, nullptr);
#endif
  // A FIFO reader or command that goes away must fail its destination with
  // EPIPE, not kill nbdkit.  (nbdkit ignores SIGPIPE too; do not rely on it.)
  signal(SIGPIPE, SIG_IGN);
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
  if (s.ok()) s = fanout::Engine::Create(parser->config(), &logger, &engine);
  if (s.ok()) PrepareExitStatus();
  return Report(s);
}

int fanout_after_fork(void) {
  // Threads start here, never earlier: nbdkit forks after configuration.
  const bool terminal = isatty(STDERR_FILENO);
  struct winsize ws = {};
  const int width = terminal && ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col ? ws.ws_col : 80;
  engine->Start(terminal, width);
  return 0;
}

void fanout_cleanup(void) {
  // End of stream: nbdkit has closed every connection (in --run mode, the
  // command has exited).
  if (!engine) return;
  fanout::Status s = engine->Finish();
  if (!s.ok()) {
    nbdkit_error("%s", s.message().c_str());
    if (outcome) outcome->failed_destinations = 1;
  }
}

void fanout_dump_plugin(void) {
  printf("fanout_window=yes\n");
  printf("fanout_ahead=yes\n");
  printf("fanout_spill=yes\n");
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
}

void* fanout_open(int readonly) {
  // One engine serves every connection; the handle carries nothing.
  static int handle;
  return &handle;
}

int64_t fanout_get_size(void*) { return engine->size(); }

int fanout_can_multi_conn(void*) {
  // With multi-conn nbdcopy writes a region per connection at once, which
  // no stream can follow: advertise it only when every destination seeks.
  return engine->all_seekable() ? 1 : 0;
}

int fanout_can_flush(void*) { return 1; }
int fanout_can_trim(void*) { return 1; }
int fanout_can_zero(void*) { return 1; }
// Zeroing never writes data here (a zero extent, or nothing in the window),
// so it is always fast.
int fanout_can_fast_zero(void*) { return 1; }
int fanout_can_fua(void*) { return NBDKIT_FUA_EMULATE; }

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
  p.load = fanout_load;
  p.unload = fanout_unload;
  p.config = fanout_config;
  p.config_complete = fanout_config_complete;
  p.config_help = nullptr;  // set below from the engine's text
  p.magic_config_key = "dest";
  p.after_fork = fanout_after_fork;
  p.cleanup = fanout_cleanup;
  p.dump_plugin = fanout_dump_plugin;
  p.open = fanout_open;
  p.get_size = fanout_get_size;
  p.can_multi_conn = fanout_can_multi_conn;
  p.can_write = [](void*) { return 1; };
  p.can_flush = fanout_can_flush;
  p.can_trim = fanout_can_trim;
  p.can_zero = fanout_can_zero;
  p.can_fast_zero = fanout_can_fast_zero;
  p.can_fua = fanout_can_fua;
  p.pread = fanout_pread;
  p.pwrite = fanout_pwrite;
  p.zero = fanout_zero;
  p.trim = fanout_trim;
  p.flush = fanout_flush;
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
