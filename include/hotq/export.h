// hotq/export.h — symbol visibility for the public API.
//
// The library is built with hidden visibility by default; only declarations
// marked HOTQ_API are exported from the shared library.
#ifndef HOTQ_EXPORT_H_
#define HOTQ_EXPORT_H_

#if defined(__GNUC__) || defined(__clang__)
#define HOTQ_API [[gnu::visibility("default")]]
#else
#define HOTQ_API
#endif

#endif  // HOTQ_EXPORT_H_
