// util/check.h — the two tiers of internal checks (see docs/architecture.md).
//
//   HOTQ_CHECK(cond)   always on, also in Release: O(1) checks at API and disk
//                      boundaries and of invariants whose breach would corrupt
//                      data. Failing aborts with the expression and location.
//   HOTQ_DCHECK(cond)  on in Debug builds and in the sanitizer presets
//                      (HOTQ_DCHECK_ON=1), compiled out otherwise: O(n)
//                      verification and checks too costly for the hot path.
//
// Neither is for expected outcomes (a full queue, bad input from a caller):
// those are a Code or a Status. A check is for what must never happen.
#ifndef HOTQ_UTIL_CHECK_H_
#define HOTQ_UTIL_CHECK_H_

#include <hotq/status.h>  // detail::check_failed

#if !defined(HOTQ_DCHECK_ON)
#if defined(NDEBUG)
#define HOTQ_DCHECK_ON 0
#else
#define HOTQ_DCHECK_ON 1
#endif
#endif

#define HOTQ_CHECK(cond)                                                     \
  (__builtin_expect(static_cast<bool>(cond), 1)                              \
       ? static_cast<void>(0)                                                \
       : ::hotq::detail::check_failed(#cond, __FILE__, __LINE__))

#if HOTQ_DCHECK_ON
#define HOTQ_DCHECK(cond) HOTQ_CHECK(cond)
#else
// Still type-checks cond, never evaluates it.
#define HOTQ_DCHECK(cond) static_cast<void>(sizeof(static_cast<bool>(cond)))
#endif

#endif  // HOTQ_UTIL_CHECK_H_
