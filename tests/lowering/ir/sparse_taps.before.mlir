// conv3x3(x, W, stride 2, SAME) on a 1x5x5x2 map, 2 -> 2 channels: output 0 reads taps
// (0, 0), (1, 1), (2, 1), output 1 taps (1, 1), (0, 2); density 5/36. JAX pads the input
// explicitly (tensor.pad), so the convolution itself is VALID on a 1x7x7x2 map.
module @taps {
  util.func public @main(%arg0: tensor<1x5x5x2xf32>) -> tensor<1x3x3x2xf32> {
    %cst = arith.constant 0.000000e+00 : f32
    %cst_0 = arith.constant dense<[[[[0.000000e+00, 0.000000e+00], [1.000000e+00, 0.000000e+00]], [[0.000000e+00, 0.000000e+00], [0.000000e+00, 0.000000e+00]], [[0.000000e+00, -2.000000e+00], [0.000000e+00, 0.000000e+00]]], [[[0.000000e+00, 0.000000e+00], [0.000000e+00, 0.000000e+00]], [[2.000000e+00, 0.000000e+00], [0.000000e+00, 5.000000e-01]], [[0.000000e+00, 0.000000e+00], [0.000000e+00, 0.000000e+00]]], [[[0.000000e+00, 0.000000e+00], [0.000000e+00, 0.000000e+00]], [[0.000000e+00, 0.000000e+00], [-1.000000e+00, 0.000000e+00]], [[0.000000e+00, 0.000000e+00], [0.000000e+00, 0.000000e+00]]]]> : tensor<3x3x2x2xf32>
    %0 = tensor.empty() : tensor<1x3x3x2xf32>
    %1 = linalg.fill ins(%cst : f32) outs(%0 : tensor<1x3x3x2xf32>) -> tensor<1x3x3x2xf32>
    %padded = tensor.pad %arg0 low[0, 1, 1, 0] high[0, 1, 1, 0] {
    ^bb0(%arg1: index, %arg2: index, %arg3: index, %arg4: index):
      tensor.yield %cst : f32
    } : tensor<1x5x5x2xf32> to tensor<1x7x7x2xf32>
    %2 = linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : tensor<2xi64>, strides = dense<2> : tensor<2xi64>} ins(%padded, %cst_0 : tensor<1x7x7x2xf32>, tensor<3x3x2x2xf32>) outs(%1 : tensor<1x3x3x2xf32>) -> tensor<1x3x3x2xf32>
    util.return %2 : tensor<1x3x3x2xf32>
  }
}
