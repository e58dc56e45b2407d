// relu(conv1x1(x, W) + b) on a 1x2x2x8 map, 8 -> 8 channels, output channels 0-3 reading inputs {1, 6} and 4-7 reading {0, 3} (4x1 blocks), density 0.25.
module @blocks {
  util.func public @main(%arg0: tensor<1x2x2x8xf32>) -> tensor<1x2x2x8xf32> {
    %cst = arith.constant 0.000000e+00 : f32
    %cst_0 = arith.constant dense<[[[[0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, -2.500000e-01, -5.000000e-01, -7.500000e-01, -1.000000e+00], [1.000000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00], [0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00], [0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, -1.250000e+00, -1.500000e+00, -1.750000e+00, -2.000000e+00], [0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00], [0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00], [5.000000e+00, 6.000000e+00, 7.000000e+00, 8.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00], [0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00]]]]> : tensor<1x1x8x8xf32>
    %cst_1 = arith.constant dense<[-5.000000e-01, -3.750000e-01, -2.500000e-01, -1.250000e-01, 0.000000e+00, 1.250000e-01, 2.500000e-01, 3.750000e-01]> : tensor<8xf32>
    %0 = tensor.empty() : tensor<1x2x2x8xf32>
    %1 = linalg.fill ins(%cst : f32) outs(%0 : tensor<1x2x2x8xf32>) -> tensor<1x2x2x8xf32>
    %2 = linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>} ins(%arg0, %cst_0 : tensor<1x2x2x8xf32>, tensor<1x1x8x8xf32>) outs(%1 : tensor<1x2x2x8xf32>) -> tensor<1x2x2x8xf32>
    %3 = tensor.empty() : tensor<1x2x2x8xf32>
    %4 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%2, %cst_1 : tensor<1x2x2x8xf32>, tensor<8xf32>) outs(%3 : tensor<1x2x2x8xf32>) {
    ^bb0(%in: f32, %in_2: f32, %out: f32):
      %5 = arith.addf %in, %in_2 : f32
      %6 = arith.maximumf %5, %cst : f32
      linalg.yield %6 : f32
    } -> tensor<1x2x2x8xf32>
    util.return %4 : tensor<1x2x2x8xf32>
  }
}
