// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// Lock rules the compiler checks: macros for Clang's thread-safety
// attributes (https://clang.llvm.org/docs/ThreadSafetyAnalysis.html).
//
// A member written `int x_ GUARDED_BY(mu_);` may only be touched with mu_
// held, a function declared `void F() REQUIRES(mu_);` only called with it
// held, and so on; `-Wthread-safety` (configure --enable-thread-safety)
// turns a broken rule into a compile error.  Other compilers see nothing:
// every macro expands to nothing there, and the rules stay documentation.
//
// The capabilities themselves (Mutex, TicketLock) are in mutex.h and
// ticket_lock.h.
#ifndef FANOUT_UTIL_THREAD_ANNOTATIONS_H
#define FANOUT_UTIL_THREAD_ANNOTATIONS_H

#if defined(__clang__) && defined(__has_attribute)
#if __has_attribute(guarded_by)
#define FANOUT_THREAD_ANNOTATION(x) __attribute__((x))
#endif
#endif
#ifndef FANOUT_THREAD_ANNOTATION
#define FANOUT_THREAD_ANNOTATION(x)
#endif

// On a class: its objects are capabilities (locks) called `name` in
// diagnostics.
#define CAPABILITY(name) FANOUT_THREAD_ANNOTATION(capability(name))

// On a class: an RAII guard that holds a capability for its lifetime.
#define SCOPED_CAPABILITY FANOUT_THREAD_ANNOTATION(scoped_lockable)

// On a data member: read or written only with the capability held.
#define GUARDED_BY(x) FANOUT_THREAD_ANNOTATION(guarded_by(x))

// On a pointer member: what it points to is read or written only with the
// capability held (the pointer itself is not guarded).
#define PT_GUARDED_BY(x) FANOUT_THREAD_ANNOTATION(pt_guarded_by(x))

// On a capability member: the order in which locks must be taken.
#define ACQUIRED_BEFORE(...) FANOUT_THREAD_ANNOTATION(acquired_before(__VA_ARGS__))
#define ACQUIRED_AFTER(...) FANOUT_THREAD_ANNOTATION(acquired_after(__VA_ARGS__))

// On a function: the caller must hold the capabilities (exclusively, or at
// least shared), and still holds them when it returns.
#define REQUIRES(...) FANOUT_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define REQUIRES_SHARED(...) FANOUT_THREAD_ANNOTATION(requires_shared_capability(__VA_ARGS__))

// On a function: it takes the capabilities and returns holding them, or
// releases capabilities the caller held.
#define ACQUIRE(...) FANOUT_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define RELEASE(...) FANOUT_THREAD_ANNOTATION(release_capability(__VA_ARGS__))

// On a function: it takes the capabilities when it returns `ret`.
#define TRY_ACQUIRE(...) FANOUT_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))

// On a function: the caller must not hold the capabilities (the function
// takes them itself; holding one would deadlock).
#define EXCLUDES(...) FANOUT_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))

// On a function: it checks at run time that the capability is held, and
// the analysis takes it as held afterwards.
#define ASSERT_CAPABILITY(x) FANOUT_THREAD_ANNOTATION(assert_capability(x))

// On a function: it returns a reference to the capability.
#define RETURN_CAPABILITY(x) FANOUT_THREAD_ANNOTATION(lock_returned(x))

// On a function: the analysis skips it.  Every use says why the analysis
// cannot see the rule that makes the function safe.
#define NO_THREAD_SAFETY_ANALYSIS FANOUT_THREAD_ANNOTATION(no_thread_safety_analysis)

#endif  // FANOUT_UTIL_THREAD_ANNOTATIONS_H
