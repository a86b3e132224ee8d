// tests/test_util.h — small helpers shared by the test suites.
#ifndef HOTQ_TESTS_TEST_UTIL_H_
#define HOTQ_TESTS_TEST_UTIL_H_

namespace hotq::testing_util {

// True in the ASan and TSan builds, where stress tests scale their work down.
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
inline constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif
#else
inline constexpr bool kSanitized = false;
#endif

}  // namespace hotq::testing_util

#endif  // HOTQ_TESTS_TEST_UTIL_H_
