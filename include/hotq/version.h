// hotq/version.h — the library's version.
#ifndef HOTQ_VERSION_H_
#define HOTQ_VERSION_H_

#include <hotq/export.h>

namespace hotq {

// "MAJOR.MINOR.PATCH" of the library actually linked, which may differ from
// the headers a program was compiled with.
HOTQ_API const char* version() noexcept;

}  // namespace hotq

#endif  // HOTQ_VERSION_H_
