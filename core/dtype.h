// minidl/core/dtype.h — element types a Tensor can hold.
//
// Training is float32. The integer types are here from the start so that
// quantized weights (int8), activations (uint8), accumulators and biases
// (int32) and class labels (int64, as PyTorch's targets) live in the same
// Tensor/Storage without a second container type.
#pragma once

#include <cstddef>
#include <cstdint>

namespace minidl {

enum class DType : uint8_t { Float32, Int8, UInt8, Int32, Int64 };

constexpr size_t dtype_size(DType t) {
  switch (t) {
    case DType::Float32: return 4;
    case DType::Int8: return 1;
    case DType::UInt8: return 1;
    case DType::Int32: return 4;
    case DType::Int64: return 8;
  }
  return 0;
}

// Names as in safetensors headers ("F32", "I8", ...).
constexpr const char* dtype_name(DType t) {
  switch (t) {
    case DType::Float32: return "F32";
    case DType::Int8: return "I8";
    case DType::UInt8: return "U8";
    case DType::Int32: return "I32";
    case DType::Int64: return "I64";
  }
  return "?";
}

template <class T> struct dtype_of_t;
template <> struct dtype_of_t<float> { static constexpr DType value = DType::Float32; };
template <> struct dtype_of_t<int8_t> { static constexpr DType value = DType::Int8; };
template <> struct dtype_of_t<uint8_t> { static constexpr DType value = DType::UInt8; };
template <> struct dtype_of_t<int32_t> { static constexpr DType value = DType::Int32; };
template <> struct dtype_of_t<int64_t> { static constexpr DType value = DType::Int64; };
template <class T> constexpr DType dtype_of = dtype_of_t<T>::value;

}  // namespace minidl
