// The process-wide parts of the nbdkit glue that the plugin and the tee
// filter share: signals, the sanitizer exit, and nbdkit's exit status.
//
// Not part of the engine (common/): these call nbdkit.  Each .so links its
// own copy (a convenience library), so the plugin and the filter loaded
// into one nbdkit each keep their own record.
#ifndef FANOUT_GLUE_EXIT_STATUS_H
#define FANOUT_GLUE_EXIT_STATUS_H

namespace fanout {
namespace glue {

// From .load: a FIFO reader or command that goes away must fail its
// destination with EPIPE, not kill nbdkit; sanitizer builds drop LD_PRELOAD
// and end the process early (see exit_status.cpp).
void PrepareProcess();

// From .config_complete, before nbdkit forks: maps the memory shared by
// nbdkit's processes and registers the on_exit(3) handler.
void PrepareExitStatus();

// A destination failed: nbdkit exits with status 1 (unless its status is
// already non-zero).  Thread-safe; async-signal-unsafe.
void RecordFailure();

}  // namespace glue
}  // namespace fanout

#endif  // FANOUT_GLUE_EXIT_STATUS_H
