// relu(conv1x1(x) + b) of a channel-major map x[1, 8, 2, 4] (`channels_first_input`), W[4, 8] with 31 of 32 weights nonzero: above the threshold, left dense, but as a matmul of W and the map's [8, 8] view with the bias and ReLU after it, no transposes.
module @dense_nchw {
  util.func public @main(%arg0: tensor<1x8x2x4xf32>) -> tensor<1x4x2x4xf32> {
    %cst = arith.constant 0.000000e+00 : f32
    %cst_0 = arith.constant dense<[[[[-2.000000e+00, -1.000000e+00, 0.000000e+00, 1.000000e+00], [-1.875000e+00, -8.750000e-01, 1.250000e-01, 1.125000e+00], [-1.750000e+00, -7.500000e-01, 2.500000e-01, 1.250000e+00], [-1.625000e+00, -6.250000e-01, 3.750000e-01, 1.375000e+00], [-1.500000e+00, -5.000000e-01, 5.000000e-01, 1.500000e+00], [-1.375000e+00, -3.750000e-01, 6.250000e-01, 1.625000e+00], [-1.250000e+00, -2.500000e-01, 7.500000e-01, 1.750000e+00], [-1.125000e+00, -1.250000e-01, 8.750000e-01, 1.875000e+00]]]]> : tensor<1x1x8x4xf32>
    %cst_1 = arith.constant dense<[5.000000e-01, -5.000000e-01, 1.000000e+00, 0.000000e+00]> : tensor<4xf32>
    %0 = tensor.empty() : tensor<1x2x4x8xf32>
    %1 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d3, d1, d2)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%arg0 : tensor<1x8x2x4xf32>) outs(%0 : tensor<1x2x4x8xf32>) {
    ^bb0(%in: f32, %out: f32):
      linalg.yield %in : f32
    } -> tensor<1x2x4x8xf32>
    %2 = tensor.empty() : tensor<1x2x4x4xf32>
    %3 = linalg.fill ins(%cst : f32) outs(%2 : tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
    %4 = linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>} ins(%1, %cst_0 : tensor<1x2x4x8xf32>, tensor<1x1x8x4xf32>) outs(%3 : tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
    %5 = tensor.empty() : tensor<1x2x4x4xf32>
    %6 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%cst_1 : tensor<4xf32>) outs(%5 : tensor<1x2x4x4xf32>) {
    ^bb0(%in: f32, %out: f32):
      linalg.yield %in : f32
    } -> tensor<1x2x4x4xf32>
    %7 = tensor.empty() : tensor<1x2x4x4xf32>
    %8 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%4, %6 : tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) outs(%7 : tensor<1x2x4x4xf32>) {
    ^bb0(%in: f32, %in_2: f32, %out: f32):
      %13 = arith.addf %in, %in_2 : f32
      linalg.yield %13 : f32
    } -> tensor<1x2x4x4xf32>
    %9 = tensor.empty() : tensor<1x2x4x4xf32>
    %10 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%8 : tensor<1x2x4x4xf32>) outs(%9 : tensor<1x2x4x4xf32>) {
    ^bb0(%in: f32, %out: f32):
      %13 = arith.maximumf %in, %cst : f32
      linalg.yield %13 : f32
    } -> tensor<1x2x4x4xf32>
    %11 = tensor.empty() : tensor<1x4x2x4xf32>
    %12 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d2, d3, d1)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%10 : tensor<1x2x4x4xf32>) outs(%11 : tensor<1x4x2x4xf32>) {
    ^bb0(%in: f32, %out: f32):
      linalg.yield %in : f32
    } -> tensor<1x4x2x4xf32>
    util.return %12 : tensor<1x4x2x4xf32>
  }
}
