// A channel-major inverted residual without its projection, as JAX's input IR has it after
// `lowering.channels_first`: an expanding 1x1 conv 4 -> 8 (two 4x1 blocks reading one input
// channel each, density 1/4) with bias and ReLU, then a 3x3 depthwise conv, stride 1, SAME,
// on an 8x14 map. On CPU both become one dispatch (`_sparse_fused_kernels`): per workgroup
// one 4-channel block and one band of output rows, the expansion into a stack buffer first.
module @jit_wrapped {
  util.func public @main(%arg0: tensor<1x8x14x4xf32>) -> tensor<1x8x14x8xf32> {
    %cst = arith.constant dense<[[[2.000000e+00, 3.300000e+00, 1.000000e+00, -3.000000e-01, -2.800000e+00, -1.000000e-01, -2.000000e-01, 8.000000e-01], [-2.600000e+00, 2.000000e-01, -2.000000e-01, -2.000000e-01, 1.000000e+00, 1.400000e+00, -8.000000e-01, -2.000000e+00], [4.000000e-01, -4.000000e-01, 0.000000e+00, 1.000000e+00, -1.000000e+00, 0.699999988, 2.000000e-01, -0.899999976]], [[-6.000000e-01, -3.000000e-01, 1.500000e+00, -0.899999976, -1.700000e+00, 2.000000e-01, -2.500000e+00, 0.699999988], [-5.000000e-01, -0.699999988, 5.000000e-01, -3.000000e-01, 3.000000e-01, 1.100000e+00, 0.699999988, 1.200000e+00], [-2.000000e-01, -1.100000e+00, -5.000000e-01, 0.899999976, 0.699999988, -2.000000e-01, 5.000000e-01, -2.200000e+00]], [[-2.000000e+00, -4.000000e-01, -2.000000e-01, 6.000000e-01, -4.000000e-01, -0.899999976, -1.600000e+00, -5.000000e-01], [-2.000000e-01, 5.000000e-01, 5.000000e-01, 1.000000e-01, -1.100000e+00, 6.000000e-01, 1.000000e-01, 3.000000e-01], [-0.899999976, -2.000000e-01, 1.900000e+00, 0.699999988, 0.000000e+00, 6.000000e-01, -1.000000e+00, -6.000000e-01]]]> : tensor<3x3x8xf32>
    %cst_0 = arith.constant 0.000000e+00 : f32
    %cst_1 = arith.constant dense<[[[[0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00], [1.000000e+00, -1.000000e+00, 2.000000e+00, 5.000000e-01, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00], [0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00], [0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 5.000000e-01, 1.000000e+00, -2.000000e+00, 1.000000e+00]]]]> : tensor<1x1x4x8xf32>
    %cst_2 = arith.constant dense<[1.000000e-01, -2.000000e-01, 3.000000e-01, 0.000000e+00, 5.000000e-01, -5.000000e-01, 2.500000e-01, 1.000000e+00]> : tensor<8xf32>
    %0 = tensor.empty() : tensor<1x4x8x14xf32>
    %1 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d2, d3, d1)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%arg0 : tensor<1x8x14x4xf32>) outs(%0 : tensor<1x4x8x14xf32>) {
    ^bb0(%in: f32, %out: f32):
      linalg.yield %in : f32
    } -> tensor<1x4x8x14xf32>
    %2 = tensor.empty() : tensor<1x8x14x4xf32>
    %3 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d3, d1, d2)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%1 : tensor<1x4x8x14xf32>) outs(%2 : tensor<1x8x14x4xf32>) {
    ^bb0(%in: f32, %out: f32):
      linalg.yield %in : f32
    } -> tensor<1x8x14x4xf32>
    %4 = tensor.empty() : tensor<1x8x14x8xf32>
    %5 = linalg.fill ins(%cst_0 : f32) outs(%4 : tensor<1x8x14x8xf32>) -> tensor<1x8x14x8xf32>
    %6 = linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>} ins(%3, %cst_1 : tensor<1x8x14x4xf32>, tensor<1x1x4x8xf32>) outs(%5 : tensor<1x8x14x8xf32>) -> tensor<1x8x14x8xf32>
    %7 = tensor.empty() : tensor<1x8x8x14xf32>
    %8 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d2, d3, d1)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%6 : tensor<1x8x14x8xf32>) outs(%7 : tensor<1x8x8x14xf32>) {
    ^bb0(%in: f32, %out: f32):
      linalg.yield %in : f32
    } -> tensor<1x8x8x14xf32>
    %9 = tensor.empty() : tensor<1x1x1x8xf32>
    %10 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%cst_2 : tensor<8xf32>) outs(%9 : tensor<1x1x1x8xf32>) {
    ^bb0(%in: f32, %out: f32):
      linalg.yield %in : f32
    } -> tensor<1x1x1x8xf32>
    %collapsed = tensor.collapse_shape %10 [[0, 1, 2, 3]] : tensor<1x1x1x8xf32> into tensor<8xf32>
    %expanded = tensor.expand_shape %collapsed [[0, 1, 2, 3]] output_shape [1, 8, 1, 1] : tensor<8xf32> into tensor<1x8x1x1xf32>
    %11 = tensor.empty() : tensor<1x8x8x14xf32>
    %12 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, 0, 0)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%expanded : tensor<1x8x1x1xf32>) outs(%11 : tensor<1x8x8x14xf32>) {
    ^bb0(%in: f32, %out: f32):
      linalg.yield %in : f32
    } -> tensor<1x8x8x14xf32>
    %13 = tensor.empty() : tensor<1x8x8x14xf32>
    %14 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%8, %12 : tensor<1x8x8x14xf32>, tensor<1x8x8x14xf32>) outs(%13 : tensor<1x8x8x14xf32>) {
    ^bb0(%in: f32, %in_3: f32, %out: f32):
      %26 = arith.addf %in, %in_3 : f32
      linalg.yield %26 : f32
    } -> tensor<1x8x8x14xf32>
    %15 = tensor.empty() : tensor<1x8x8x14xf32>
    %16 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%14 : tensor<1x8x8x14xf32>) outs(%15 : tensor<1x8x8x14xf32>) {
    ^bb0(%in: f32, %out: f32):
      %26 = arith.maximumf %in, %cst_0 : f32
      linalg.yield %26 : f32
    } -> tensor<1x8x8x14xf32>
    %17 = tensor.empty() : tensor<1x8x14x8xf32>
    %18 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d3, d1, d2)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%16 : tensor<1x8x8x14xf32>) outs(%17 : tensor<1x8x14x8xf32>) {
    ^bb0(%in: f32, %out: f32):
      linalg.yield %in : f32
    } -> tensor<1x8x14x8xf32>
    %padded = tensor.pad %18 low[0, 1, 1, 0] high[0, 1, 1, 0] {
    ^bb0(%arg1: index, %arg2: index, %arg3: index, %arg4: index):
      tensor.yield %cst_0 : f32
    } : tensor<1x8x14x8xf32> to tensor<1x10x16x8xf32>
    %19 = tensor.empty() : tensor<1x8x14x8xf32>
    %20 = linalg.fill ins(%cst_0 : f32) outs(%19 : tensor<1x8x14x8xf32>) -> tensor<1x8x14x8xf32>
    %21 = linalg.depthwise_conv_2d_nhwc_hwc {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>} ins(%padded, %cst : tensor<1x10x16x8xf32>, tensor<3x3x8xf32>) outs(%20 : tensor<1x8x14x8xf32>) -> tensor<1x8x14x8xf32>
    %22 = tensor.empty() : tensor<1x8x8x14xf32>
    %23 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d2, d3, d1)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%21 : tensor<1x8x14x8xf32>) outs(%22 : tensor<1x8x8x14xf32>) {
    ^bb0(%in: f32, %out: f32):
      linalg.yield %in : f32
    } -> tensor<1x8x8x14xf32>
    %24 = tensor.empty() : tensor<1x8x14x8xf32>
    %25 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d3, d1, d2)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%23 : tensor<1x8x8x14xf32>) outs(%24 : tensor<1x8x14x8xf32>) {
    ^bb0(%in: f32, %out: f32):
      linalg.yield %in : f32
    } -> tensor<1x8x14x8xf32>
    util.return %25 : tensor<1x8x14x8xf32>
  }
}
