// engine/mutex.h — a mutex with clang thread-safety annotations.
//
// The hot path is lock-free (rings, free lists); the few locks that remain
// (a shard's timing wheel and lease state, a queue's dead-letter set, the
// queue table) use this type so clang's -Wthread-safety can check that every
// guarded field is touched only with its lock held. g++ ignores the
// annotations.
#ifndef HOTQ_ENGINE_MUTEX_H_
#define HOTQ_ENGINE_MUTEX_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

#if defined(__clang__)
#define HOTQ_TSA(x) __attribute__((x))
#else
#define HOTQ_TSA(x)
#endif

#define HOTQ_CAPABILITY(x) HOTQ_TSA(capability(x))
#define HOTQ_SCOPED_CAPABILITY HOTQ_TSA(scoped_lockable)
#define HOTQ_GUARDED_BY(x) HOTQ_TSA(guarded_by(x))
#define HOTQ_PT_GUARDED_BY(x) HOTQ_TSA(pt_guarded_by(x))
#define HOTQ_REQUIRES(...) HOTQ_TSA(requires_capability(__VA_ARGS__))
#define HOTQ_ACQUIRE(...) HOTQ_TSA(acquire_capability(__VA_ARGS__))
#define HOTQ_RELEASE(...) HOTQ_TSA(release_capability(__VA_ARGS__))
#define HOTQ_EXCLUDES(...) HOTQ_TSA(locks_excluded(__VA_ARGS__))
#define HOTQ_NO_TSA HOTQ_TSA(no_thread_safety_analysis)

namespace hotq::engine {

class HOTQ_CAPABILITY("mutex") Mutex {
 public:
  void lock() HOTQ_ACQUIRE() { mu_.lock(); }
  void unlock() HOTQ_RELEASE() { mu_.unlock(); }

 private:
  std::mutex mu_;
};

class HOTQ_SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mu) HOTQ_ACQUIRE(mu) : mu_(mu) { mu_.lock(); }
  ~MutexLock() HOTQ_RELEASE() { mu_.unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex& mu_;
};

// A condition variable over Mutex. The analysis cannot follow the unlock and
// relock inside wait, so the wrappers are exempt; callers hold mu as required.
class CondVar {
 public:
  void wait(Mutex& mu) HOTQ_REQUIRES(mu) HOTQ_NO_TSA { cv_.wait(mu); }
  // False when `ns` passed without a notify (a spurious wake-up is true).
  bool wait_for_ns(Mutex& mu, std::uint64_t ns) HOTQ_REQUIRES(mu) HOTQ_NO_TSA {
    return cv_.wait_for(mu, std::chrono::nanoseconds(ns)) == std::cv_status::no_timeout;
  }
  void notify_one() { cv_.notify_one(); }
  void notify_all() { cv_.notify_all(); }

 private:
  std::condition_variable_any cv_;
};

}  // namespace hotq::engine

#endif  // HOTQ_ENGINE_MUTEX_H_
