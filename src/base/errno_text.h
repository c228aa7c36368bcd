// ErrnoText: the text of an errno value, safe to call from any thread (std::strerror may
// share one buffer between threads).
#ifndef SANDBOXD_BASE_ERRNO_TEXT_H_
#define SANDBOXD_BASE_ERRNO_TEXT_H_

#include <cstring>
#include <string>

namespace sandboxd {

inline std::string ErrnoText(int err) {
  char buf[256];
  // GNU strerror_r (glibc, _GNU_SOURCE as g++ and clang++ define it): returns the text,
  // either a static string or `buf`.
  return strerror_r(err, buf, sizeof buf);
}

}  // namespace sandboxd

#endif  // SANDBOXD_BASE_ERRNO_TEXT_H_
