#include <hotq/version.h>

#ifndef HOTQ_VERSION_STRING
#error "HOTQ_VERSION_STRING is set by CMakeLists.txt"
#endif

namespace hotq {

const char* version() noexcept { return HOTQ_VERSION_STRING; }

}  // namespace hotq
