#include "nn/progress.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace minidl::nn {

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "--:--";
  const int64_t s = int64_t(seconds + 0.5), h = s / 3600, m = s / 60 % 60, sec = s % 60;
  char buf[32];
  if (h > 0) std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", (long long)h, (long long)m, (long long)sec);
  else std::snprintf(buf, sizeof buf, "%02lld:%02lld", (long long)m, (long long)sec);
  return buf;
}

std::string progress_bar(const Progress& p, int width) {
  const int64_t total = std::max<int64_t>(p.total, 1), done = std::clamp<int64_t>(p.done, 0, total);
  const int filled = int(int64_t(width) * done / total);
  const double remaining = done > 0 ? p.elapsed_seconds * double(total - done) / double(done) : NAN;
  char stats[96];
  std::snprintf(stats, sizeof stats, "  loss %.4f  acc %.4f", p.loss, p.accuracy);
  return "epoch " + std::to_string(p.epoch) + "/" + std::to_string(p.epochs) + " [" + std::string(size_t(filled), '#') +
         std::string(size_t(width - filled), '.') + "] " + std::to_string(done) + "/" + std::to_string(total) + "  " +
         format_duration(p.elapsed_seconds) + "<" + format_duration(remaining) + stats;
}

}  // namespace minidl::nn
