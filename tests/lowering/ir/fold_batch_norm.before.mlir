// relu((x @ W - mean) * scale + beta), W = [[1, 2], [3, 4], [5, 6]], mean = [1, -1],
// scale = [2, 0.5], beta = [0.5, 0.25], as `iree-compile --compile-to=input` gives it.
module @jit__lambda {
  util.func public @main(%arg0: tensor<2x3xf32>) -> tensor<2x2xf32> {
    %cst = arith.constant 0.000000e+00 : f32
    %cst_0 = arith.constant dense<[[1.000000e+00, 2.000000e+00], [3.000000e+00, 4.000000e+00], [5.000000e+00, 6.000000e+00]]> : tensor<3x2xf32>
    %cst_1 = arith.constant dense<[1.000000e+00, -1.000000e+00]> : tensor<2xf32>
    %cst_2 = arith.constant dense<[2.000000e+00, 5.000000e-01]> : tensor<2xf32>
    %cst_3 = arith.constant dense<[5.000000e-01, 2.500000e-01]> : tensor<2xf32>
    %0 = tensor.empty() : tensor<2x2xf32>
    %1 = linalg.fill ins(%cst : f32) outs(%0 : tensor<2x2xf32>) -> tensor<2x2xf32>
    %2 = linalg.matmul ins(%arg0, %cst_0 : tensor<2x3xf32>, tensor<3x2xf32>) outs(%1 : tensor<2x2xf32>) -> tensor<2x2xf32>
    %3 = tensor.empty() : tensor<2x2xf32>
    %4 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%cst_1 : tensor<2xf32>) outs(%3 : tensor<2x2xf32>) {
    ^bb0(%in: f32, %out: f32):
      linalg.yield %in : f32
    } -> tensor<2x2xf32>
    %5 = tensor.empty() : tensor<2x2xf32>
    %6 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%2, %4 : tensor<2x2xf32>, tensor<2x2xf32>) outs(%5 : tensor<2x2xf32>) {
    ^bb0(%in: f32, %in_4: f32, %out: f32):
      %17 = arith.subf %in, %in_4 : f32
      linalg.yield %17 : f32
    } -> tensor<2x2xf32>
    %7 = tensor.empty() : tensor<2x2xf32>
    %8 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%cst_2 : tensor<2xf32>) outs(%7 : tensor<2x2xf32>) {
    ^bb0(%in: f32, %out: f32):
      linalg.yield %in : f32
    } -> tensor<2x2xf32>
    %9 = tensor.empty() : tensor<2x2xf32>
    %10 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%6, %8 : tensor<2x2xf32>, tensor<2x2xf32>) outs(%9 : tensor<2x2xf32>) {
    ^bb0(%in: f32, %in_4: f32, %out: f32):
      %17 = arith.mulf %in, %in_4 : f32
      linalg.yield %17 : f32
    } -> tensor<2x2xf32>
    %11 = tensor.empty() : tensor<2x2xf32>
    %12 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%cst_3 : tensor<2xf32>) outs(%11 : tensor<2x2xf32>) {
    ^bb0(%in: f32, %out: f32):
      linalg.yield %in : f32
    } -> tensor<2x2xf32>
    %13 = tensor.empty() : tensor<2x2xf32>
    %14 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%10, %12 : tensor<2x2xf32>, tensor<2x2xf32>) outs(%13 : tensor<2x2xf32>) {
    ^bb0(%in: f32, %in_4: f32, %out: f32):
      %17 = arith.addf %in, %in_4 : f32
      linalg.yield %17 : f32
    } -> tensor<2x2xf32>
    %15 = tensor.empty() : tensor<2x2xf32>
    %16 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%14 : tensor<2x2xf32>) outs(%15 : tensor<2x2xf32>) {
    ^bb0(%in: f32, %out: f32):
      %17 = arith.maximumf %in, %cst : f32
      linalg.yield %17 : f32
    } -> tensor<2x2xf32>
    util.return %16 : tensor<2x2xf32>
  }
}
