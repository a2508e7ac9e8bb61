#include "core/error.h"

#include <atomic>
#include <cstdio>

namespace minidl {
namespace {
void default_warning(const std::string& m) { std::fprintf(stderr, "minidl warning: %s\n", m.c_str()); }
std::atomic<WarningHandler> g_handler{&default_warning};
}  // namespace

WarningHandler set_warning_handler(WarningHandler h) { return g_handler.exchange(h ? h : &default_warning); }
void warn(const std::string& message) { g_handler.load()(message); }
}  // namespace minidl
