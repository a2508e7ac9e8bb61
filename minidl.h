// minidl.h — everything in one include: #include <minidl.h>
#pragma once

// core/
#include "core/autograd.h"
#include "core/dtype.h"
#include "core/error.h"
#include "core/ops.h"
#include "core/parallel.h"
#include "core/random.h"
#include "core/tensor.h"

// datasets/
#include "datasets/cifar10.h"
#include "datasets/csv.h"
#include "datasets/dataset.h"
#include "datasets/idx.h"
#include "datasets/image_folder.h"
#include "datasets/loader.h"
#include "datasets/transforms.h"

// nn/
#include "nn/activation.h"
#include "nn/adam.h"
#include "nn/adamw.h"
#include "nn/batchnorm.h"
#include "nn/checkpoint.h"
#include "nn/conv2d.h"
#include "nn/dropout.h"
#include "nn/flatten.h"
#include "nn/fuse.h"
#include "nn/fused.h"
#include "nn/init.h"
#include "nn/linear.h"
#include "nn/model_spec.h"
#include "nn/lr_scheduler.h"
#include "nn/module.h"
#include "nn/one_cycle_lr.h"
#include "nn/optim.h"
#include "nn/plot.h"
#include "nn/progress.h"
#include "nn/pooling.h"
#include "nn/seed_cnn.h"
#include "nn/sequential.h"
#include "nn/train_config.h"
#include "nn/trainer.h"

// compress/
#include "compress/distill.h"
#include "compress/fake_quantize.h"
#include "compress/gradual.h"
#include "compress/observer.h"
#include "compress/prune.h"
#include "compress/qscheme.h"
#include "compress/quantize.h"
#include "compress/quantized_checkpoint.h"
#include "compress/quantized_modules.h"
#include "compress/report.h"
#include "compress/sparse_format.h"
#include "compress/structured.h"

// validate/
#include "validate/cross_validate.h"
#include "validate/cv_arrays.h"
#include "validate/group_kfold.h"
#include "validate/metrics.h"
#include "validate/shuffle_split.h"
#include "validate/split.h"

