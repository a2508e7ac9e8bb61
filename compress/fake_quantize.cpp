// minidl/compress/fake_quantize.cpp — see fake_quantize.h.
#include "compress/fake_quantize.h"

#include <sstream>

#include "core/ops.h"

namespace minidl::compress {

FakeQuantize::FakeQuantize(std::shared_ptr<Observer> observer, bool observe_in_eval)
    : observer_(std::move(observer)), observe_in_eval_(observe_in_eval) {
  MINIDL_CHECK(observer_ != nullptr, "FakeQuantize: needs an observer");
  register_module("activation_post_process", observer_);
  register_buffer("scale", Tensor::ones({1}));
  register_buffer("zero_point", Tensor::zeros({1}, DType::Int32));
}

Tensor FakeQuantize::forward(const Tensor& x) {
  if (observer_enabled && (is_training() || observe_in_eval_)) {
    if (reset_each_call) observer_->reset();
    observer_->forward(x.detach());
    const QParams q = observer_->qparams();
    buffer("scale") = Tensor::from_vector(q.scale, {int64_t(q.size())});
    buffer("zero_point") = Tensor::from_vector(q.zero_point, {int64_t(q.size())});
    have_qparams_ = true;
  }
  if (!fake_quant_enabled) return x;
  MINIDL_CHECK(have_qparams_, (observer_->where.empty() ? label() : observer_->where),
               ": FakeQuantize has no range yet (run a training step, or enable its observer)");
  const QParams q = qparams();
  return fake_quantize(x, q.scale, q.zero_point, q.range.qmin, q.range.qmax, q.axis);
}

QParams FakeQuantize::qparams() const {
  auto* self = const_cast<FakeQuantize*>(this);
  QParams q;
  q.scale = self->buffer("scale").to_vector<float>();
  q.zero_point = self->buffer("zero_point").to_vector<int32_t>();
  q.range = observer_->range;
  q.axis = q.scale.size() > 1 || is_per_channel(observer_->qscheme) ? 0 : -1;
  if (auto* pc = dynamic_cast<PerChannelMinMaxObserver*>(observer_.get())) q.axis = q.axis < 0 ? -1 : pc->ch_axis;
  return q;
}

std::string FakeQuantize::extra_repr() const {
  std::ostringstream os;
  os << "observer_enabled=" << observer_enabled << ", fake_quant_enabled=" << fake_quant_enabled;
  return os.str();
}

}  // namespace minidl::compress
