// tests/test_util.h — small helpers shared by the doctest suites.
#pragma once

#include <string>

#include "core/error.h"

namespace minidl::test {

// The message of the minidl::Error that f throws, or "<no error>". Lets a test
// check what an error says: CHECK(contains(error_of([&] { ... }), "shape")).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const minidl::Error& e) {
    return e.what();
  }
  return "<no error>";
}

inline bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace minidl::test
