// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// Guarded<F>: an nbdkit callback that no exception leaves.
//
// nbdkit is C, and an exception that unwinds through its frames is
// undefined behaviour.  The engine reports every failure it expects as a
// Status; what can still come out of it as an exception is running out of
// memory (std::bad_alloc from a container or a buffer that cannot grow:
// the engine's one policy for that, see util/status.h), or a thread that
// cannot be started (std::system_error).  Registered as Guarded<F>, a
// callback turns either into what every other failure is: nbdkit_error(),
// the errno (ENOMEM for memory; *err too, for a filter's data callbacks),
// and the callback's failure value (-1, or NULL from .open).
#ifndef FANOUT_GLUE_CALLBACK_H
#define FANOUT_GLUE_CALLBACK_H

#include <new>
#include <stdexcept>
#include <type_traits>

namespace fanout {
namespace glue {

// Logs the exception and sets nbdkit's errno (the error number it stands
// for): ENOMEM for std::bad_alloc, the code of a std::system_error, EIO
// otherwise.  Returns that errno.
int ReportException(const std::exception& e);

namespace internal {

template <typename R>
R Failed() {
  if constexpr (std::is_pointer_v<R>)
    return nullptr;
  else if constexpr (!std::is_void_v<R>)
    return -1;
}

// A filter's data callbacks return their errno through their last
// parameter, int* err; every other parameter is left alone.
template <typename T>
void SetErr(T&&, int) {}
inline void SetErr(int* err, int value) {
  *err = value;
}

template <auto F>
struct Guard;

template <typename R, typename... Args, R (*F)(Args...)>
struct Guard<F> {
  static R Call(Args... args) {
    try {
      return F(args...);
    } catch (const std::exception& e) {
      [[maybe_unused]] const int err = ReportException(e);
      (SetErr(args, err), ...);
      return Failed<R>();
    }
  }
};

}  // namespace internal

template <auto F>
inline constexpr auto Guarded = &internal::Guard<F>::Call;

}  // namespace glue
}  // namespace fanout

#endif  // FANOUT_GLUE_CALLBACK_H
