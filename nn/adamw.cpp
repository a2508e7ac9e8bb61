#include "nn/adamw.h"

namespace minidl::nn {

AdamW::AdamW(std::vector<Tensor> params, const AdamWOptions& o)
    : Adam(std::move(params), AdamOptions{o.lr, o.beta1, o.beta2, o.eps, o.weight_decay, o.amsgrad}, true, "AdamW") {}

}  // namespace minidl::nn
