// minidl/core/error.h — the one exception type and the checking macro.
//
// Every failure a user can cause (bad shapes, bad arguments, bad files) throws
// minidl::Error with a message that names what was wrong: the op or layer, the
// shapes involved, the file and byte offset, or the argument and its allowed
// range. Internal invariants use the same macro; nothing aborts.
#pragma once

#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace minidl {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

using Shape = std::vector<int64_t>;

// "[64, 1600]" — shapes print the way PyTorch prints torch.Size.
inline std::string to_string(const Shape& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

// Warnings (e.g. "a class has fewer members than n_splits") go through one
// replaceable handler; the default prints "minidl warning: ..." to stderr.
// Tests install their own handler to check that a warning was given.
using WarningHandler = void (*)(const std::string&);
WarningHandler set_warning_handler(WarningHandler h);  // returns the previous one
void warn(const std::string& message);

namespace detail {
template <class... A>
[[noreturn]] void fail(const A&... a) {
  std::ostringstream os;
  (os << ... << a);
  throw Error(os.str());
}
}  // namespace detail

}  // namespace minidl

// MINIDL_CHECK(cond, "conv2d: expected ", x, " got ", y) throws minidl::Error.
#define MINIDL_CHECK(cond, ...)                              \
  do {                                                       \
    if (!(cond)) ::minidl::detail::fail(__VA_ARGS__);        \
  } while (0)
