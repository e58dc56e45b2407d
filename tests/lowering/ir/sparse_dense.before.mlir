// x[2, 8] @ W[8, 4] with 31 of 32 weights nonzero: above the threshold, left dense.
module @dense {
  util.func public @main(%arg0: tensor<2x8xf32>) -> tensor<2x4xf32> {
    %cst = arith.constant 0.000000e+00 : f32
    %cst_0 = arith.constant dense<[[0.000000e+00, -1.875000e+00, -1.750000e+00, -1.625000e+00], [-1.500000e+00, -1.375000e+00, -1.250000e+00, -1.125000e+00], [-1.000000e+00, -8.750000e-01, -7.500000e-01, -6.250000e-01], [-5.000000e-01, -3.750000e-01, -2.500000e-01, -1.250000e-01], [0.000000e+00, 1.250000e-01, 2.500000e-01, 3.750000e-01], [5.000000e-01, 6.250000e-01, 7.500000e-01, 8.750000e-01], [1.000000e+00, 1.125000e+00, 1.250000e+00, 1.375000e+00], [1.500000e+00, 1.625000e+00, 1.750000e+00, 1.875000e+00]]> : tensor<8x4xf32>
    %0 = tensor.empty() : tensor<2x4xf32>
    %1 = linalg.fill ins(%cst : f32) outs(%0 : tensor<2x4xf32>) -> tensor<2x4xf32>
    %2 = linalg.matmul ins(%arg0, %cst_0 : tensor<2x8xf32>, tensor<8x4xf32>) outs(%1 : tensor<2x4xf32>) -> tensor<2x4xf32>
    util.return %2 : tensor<2x4xf32>
  }
}
