// The matmul W[4, 8] @ x[8, 8] on the collapsed NCHW map, then bias + ReLU, expanded back to NCHW.
#map = affine_map<(d0, d1) -> (d0, d1)>
#map1 = affine_map<(d0, d1) -> (d0)>
module @dense_nchw {
  util.func public @main(%arg0: tensor<1x8x2x4xf32>) -> tensor<1x4x2x4xf32> {
    %cst = arith.constant dense<[[-2.000000e+00, -1.875000e+00, -1.750000e+00, -1.625000e+00, -1.500000e+00, -1.375000e+00, -1.250000e+00, -1.125000e+00], [-1.000000e+00, -8.750000e-01, -7.500000e-01, -6.250000e-01, -5.000000e-01, -3.750000e-01, -2.500000e-01, -1.250000e-01], [0.000000e+00, 1.250000e-01, 2.500000e-01, 3.750000e-01, 5.000000e-01, 6.250000e-01, 7.500000e-01, 8.750000e-01], [1.000000e+00, 1.125000e+00, 1.250000e+00, 1.375000e+00, 1.500000e+00, 1.625000e+00, 1.750000e+00, 1.875000e+00]]> : tensor<4x8xf32>
    %cst_0 = arith.constant dense<[5.000000e-01, -5.000000e-01, 1.000000e+00, 0.000000e+00]> : tensor<4xf32>
    %collapsed = tensor.collapse_shape %arg0 [[0, 1], [2, 3]] : tensor<1x8x2x4xf32> into tensor<8x8xf32>
    %cst_1 = arith.constant 0.000000e+00 : f32
    %0 = tensor.empty() : tensor<4x8xf32>
    %1 = linalg.fill ins(%cst_1 : f32) outs(%0 : tensor<4x8xf32>) -> tensor<4x8xf32>
    %2 = linalg.matmul ins(%cst, %collapsed : tensor<4x8xf32>, tensor<8x8xf32>) outs(%1 : tensor<4x8xf32>) -> tensor<4x8xf32>
    %3 = linalg.generic {indexing_maps = [#map, #map1, #map], iterator_types = ["parallel", "parallel"]} ins(%2, %cst_0 : tensor<4x8xf32>, tensor<4xf32>) outs(%0 : tensor<4x8xf32>) {
    ^bb0(%in: f32, %in_2: f32, %out: f32):
      %cst_3 = arith.constant 0.000000e+00 : f32
      %4 = arith.addf %in, %in_2 : f32
      %5 = arith.cmpf olt, %4, %cst_3 : f32
      %6 = arith.select %5, %cst_3, %4 : f32
      linalg.yield %6 : f32
    } -> tensor<4x8xf32>
    %expanded = tensor.expand_shape %3 [[0, 1], [2, 3]] output_shape [1, 4, 2, 4] : tensor<4x8xf32> into tensor<1x4x2x4xf32>
    util.return %expanded : tensor<1x4x2x4xf32>
  }
}
