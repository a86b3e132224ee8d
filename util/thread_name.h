// util/thread_name.h — names the calling thread, so that `top -H`, `ps -L`,
// perf and gdb tell hotq's background threads apart from the embedder's
// (docs/architecture.md, "Threads").
#ifndef HOTQ_UTIL_THREAD_NAME_H_
#define HOTQ_UTIL_THREAD_NAME_H_

#include <pthread.h>

namespace hotq {

// At most 15 bytes: the kernel's limit (a longer name is refused, and the
// thread keeps its old one). Naming is best effort: nothing depends on it.
inline void name_this_thread(const char* name) noexcept {
  (void)pthread_setname_np(pthread_self(), name);
}

}  // namespace hotq

#endif  // HOTQ_UTIL_THREAD_NAME_H_
