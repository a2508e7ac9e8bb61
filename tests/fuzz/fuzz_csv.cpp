// Harness: CSV tables (datasets/csv.h: load_csv).
//   byte 0: bit 0 header, bit 1 ';' instead of ',', bit 2 label by name "y",
//   bits 3-7: label column - 16 (so -16..15)
#include "datasets/csv.h"
#include "fuzz_util.h"

using namespace minidl;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const int flags = data[0];
  datasets::CsvOptions o;
  o.header = flags & 1;
  o.delimiter = flags & 2 ? ';' : ',';
  if ((flags & 4) && o.header) o.label_name = "y";
  o.label_column = int64_t(flags >> 3) - 16;
  const auto path = fuzz::scratch() / "t.csv";
  fuzz::write_file(path, data + 1, size - 1);
  return fuzz::expect_ok_or_error([&] { (void)datasets::load_csv(path.string(), o); });
}
