// minidl/nn/dropout.h — inverted dropout (Srivastava et al. 2014): in training,
// zero each value with probability p and scale the rest by 1/(1-p); identity in eval.
#pragma once

#include "core/ops.h"
#include "core/random.h"
#include "nn/module.h"

namespace minidl::nn {

class Dropout : public Module {
 public:
  // The generator must outlive the layer; by default the calling thread's.
  explicit Dropout(float p = 0.5f, Generator* gen = nullptr) : p(p), gen_(gen) {
    MINIDL_CHECK(p >= 0.f && p < 1.f, "Dropout: p must be in [0, 1), got ", p);
  }
  Tensor forward(const Tensor& x) override {
    return dropout(x, p, is_training(), gen_ ? *gen_ : default_generator());
  }
  std::string type_name() const override { return "Dropout"; }
  std::string extra_repr() const override { return "p=" + std::to_string(p); }
  float p;

 private:
  Generator* gen_;
};

}  // namespace minidl::nn
