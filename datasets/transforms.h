// minidl/datasets/transforms.h — batch transforms (scaling, normalisation, augmentation).
//
// A Transform works on a whole collated batch — x as float32 [B, C, H, W]
// (or [B, F] for the non-spatial ones) — in place, drawing any randomness from
// the Generator it is given. The DataLoader passes a generator seeded from
// (seed, epoch), so augmentations are reproducible. Random transforms draw
// per image, in batch order, with the same rules as torchvision:
//   RandomCrop:           top = randint(H + 2p - h + 1), then left = randint(W + 2p - w + 1)
//   RandomHorizontalFlip: flip when uniform01() < p (one draw per image, always)
// so a given seed gives the same augmentation on every platform (but not the
// same numbers as torch's generator).
//
//   opts.transforms = {std::make_shared<RandomCrop>(28, 28, 2),
//                      std::make_shared<RandomHorizontalFlip>(),
//                      std::make_shared<ScalePixels>(),
//                      std::make_shared<Normalize>(channel_stats(*train, 1 / 255.f))};
// (Crop before Normalize, so the padding is black pixels as in torchvision's
// RandomCrop -> ToTensor -> Normalize, not the mean colour.)
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/random.h"
#include "core/tensor.h"
#include "datasets/dataset.h"

namespace minidl::datasets {

class Transform {
 public:
  virtual ~Transform() = default;
  // May replace `batch` by a tensor of another shape (RandomCrop).
  virtual void apply(Tensor& batch, Generator& gen) const = 0;
  virtual std::string name() const = 0;  // e.g. "Normalize(mean=[0.286], std=[0.353])"
};
using TransformPtr = std::shared_ptr<const Transform>;

// x *= scale; the default maps pixels 0..255 to 0..1 like torchvision's ToTensor.
class ScalePixels : public Transform {
 public:
  explicit ScalePixels(float scale = 1.f / 255.f) : scale_(scale) {}
  void apply(Tensor& batch, Generator& gen) const override;
  std::string name() const override;

 private:
  float scale_;
};

// Per-channel mean and (population) standard deviation, see channel_stats().
struct ChannelStats {
  std::vector<float> mean, std;
};

// x[:, c, ...] = (x[:, c, ...] - mean[c]) / std[c] over dim 1, as torchvision's
// Normalize; works for [B, C, H, W] and for [B, F] (per feature).
class Normalize : public Transform {
 public:
  Normalize(std::vector<float> mean, std::vector<float> std);
  explicit Normalize(const ChannelStats& s) : Normalize(s.mean, s.std) {}
  void apply(Tensor& batch, Generator& gen) const override;
  std::string name() const override;

 private:
  std::vector<float> mean_, std_;
};

// Pads each image by `padding` zeros on every side, then cuts a random
// height x width window ([B, C, H, W] -> [B, C, height, width]). A new tensor
// replaces the batch.
class RandomCrop : public Transform {
 public:
  RandomCrop(int64_t height, int64_t width, int64_t padding = 0);
  void apply(Tensor& batch, Generator& gen) const override;
  std::string name() const override;

 private:
  int64_t height_, width_, padding_;
};

// Mirrors each image left-right with probability p ([B, C, H, W]).
class RandomHorizontalFlip : public Transform {
 public:
  explicit RandomHorizontalFlip(float p = 0.5f);
  void apply(Tensor& batch, Generator& gen) const override;
  std::string name() const override;

 private:
  float p_;
};

// Applies transforms in order.
class Compose : public Transform {
 public:
  explicit Compose(std::vector<TransformPtr> transforms);
  void apply(Tensor& batch, Generator& gen) const override;
  std::string name() const override;

 private:
  std::vector<TransformPtr> transforms_;
};

// Mean and population std of every channel (dim 0 of item_shape(); for [F]
// items, of every feature) over all items of `ds` — e.g. of a Subset holding
// only the training fold, so normalisation never sees test data. Values are
// multiplied by `scale` first (1/255 to match ScalePixels). Accumulated in
// double, shifted by the first item's channel means to avoid cancellation.
ChannelStats channel_stats(const Dataset& ds, float scale = 1.f);

}  // namespace minidl::datasets
