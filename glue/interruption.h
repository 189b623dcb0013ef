// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// Interruption: telling a run that ends before its client finished from one
// that ends because the client finished, in the serving process, from what
// nbdkit 1.32 lets a plugin see.
//
// nbdkit ends the serving process with a signal (SIGINT, SIGQUIT, SIGTERM,
// SIGHUP) in every mode: a user's, or in --run mode the parent's SIGTERM
// once the command has exited.  Its handler only sets a quit flag; a plugin
// is not told why.  So the glue chains a handler of its own in front of
// nbdkit's, which records the signal, how many clients were connected
// (counted in .open/.close; nbdkit calls no .close once quitting) and, in
// --run mode, whether the parent had seen the command end (exit_status.h).
// The verdict, and the engine's work, happen on a small thread woken through
// a pipe, since nothing of the engine is async-signal-safe.  The first
// signal reaches nbdkit's handler only through that thread (as
// nbdkit_shutdown()), after up to half a second for a client that was
// already closing: once nbdkit quits it calls no .close, and such a client
// would look like one cut off mid-copy.
//
//   - the first signal while a client is connected, or in --run mode before
//     the command ended: interrupted ("nbdkit received SIGTERM while 1
//     client was connected");
//   - in --run mode, the parent's SIGTERM after a command that exited
//     non-zero or was killed: interrupted ("the --run command exited with
//     status 3"); after one that exited 0: the end of the stream;
//   - any later signal (during the end of the stream): interrupted, which
//     cuts the end of the stream short.
#ifndef FANOUT_GLUE_INTERRUPTION_H
#define FANOUT_GLUE_INTERRUPTION_H

#include <functional>
#include <string>

namespace fanout {
namespace glue {

// From .after_fork, in the serving process: chains the handlers and starts
// the thread that calls interrupt(reason) when a signal means the run was
// interrupted.  interrupt must be thread-safe and idempotent
// (Engine::Interrupt).
void WatchSignals(std::function<void(const std::string&)> interrupt);

// From .open and .close.  Thread-safe, async-signal-safe.
void ConnectionOpened();
void ConnectionClosed();

// From .cleanup, before the end of the stream: settles the signal that ended
// serving now, in case the thread has not got to it yet.
void SettleSignals();

// From .cleanup, after the end of the stream: stops the thread and gives
// nbdkit its own handlers back.
void StopWatchingSignals();

}  // namespace glue
}  // namespace fanout

#endif  // FANOUT_GLUE_INTERRUPTION_H
