// x[2, 8] @ W[8, 4] with W entirely zero: the result is the (zero) bias.
#config = #iree_cpu.lowering_config<distribution = [8, 64], vector_common_parallel = [1, 64]>
#map = affine_map<(d0, d1) -> (d0)>
#map1 = affine_map<(d0, d1) -> (d0, d1)>
#translation = #iree_codegen.translation_info<pipeline = #iree_cpu.pipeline<DoubleTilingExpert>>
#compilation = #iree_codegen.compilation_info<lowering_config = #config, translation_info = #translation>
module @zero {
  util.func public @main(%arg0: tensor<2x8xf32>) -> tensor<2x4xf32> {
    %cst = arith.constant dense<0.000000e+00> : tensor<4xf32>
    %0 = tensor.empty() : tensor<8x2xf32>
    %transposed = linalg.transpose ins(%arg0 : tensor<2x8xf32>) outs(%0 : tensor<8x2xf32>) permutation = [1, 0] 
    %1 = flow.dispatch.workgroups(%transposed, %cst) : (tensor<8x2xf32>, tensor<4xf32>) -> tensor<4x2xf32> =
        (%arg1: !iree_tensor_ext.dispatch.tensor<readonly:tensor<8x2xf32>>, %arg2: !iree_tensor_ext.dispatch.tensor<readonly:tensor<4xf32>>, %arg3: !iree_tensor_ext.dispatch.tensor<writeonly:tensor<4x2xf32>>) {
      %3 = iree_tensor_ext.dispatch.tensor.load %arg1, offsets = [0, 0], sizes = [8, 2], strides = [1, 1] : !iree_tensor_ext.dispatch.tensor<readonly:tensor<8x2xf32>> -> tensor<8x2xf32>
      %4 = iree_tensor_ext.dispatch.tensor.load %arg2, offsets = [0], sizes = [4], strides = [1] : !iree_tensor_ext.dispatch.tensor<readonly:tensor<4xf32>> -> tensor<4xf32>
      %5 = tensor.empty() : tensor<4x2xf32>
      %6 = linalg.generic {indexing_maps = [#map, #map1], iterator_types = ["parallel", "parallel"]} ins(%4 : tensor<4xf32>) outs(%5 : tensor<4x2xf32>) attrs =  {compilation_info = #compilation} {
      ^bb0(%in: f32, %out: f32):
        %7 = linalg.index 0 : index
        %8 = linalg.index 1 : index
        linalg.yield %in : f32
      } -> tensor<4x2xf32>
      iree_tensor_ext.dispatch.tensor.store %6, %arg3, offsets = [0, 0], sizes = [4, 2], strides = [1, 1] : tensor<4x2xf32> -> !iree_tensor_ext.dispatch.tensor<writeonly:tensor<4x2xf32>>
      flow.return
    } count() -> (index, index, index) {
      %x, %y, %z = iree_tensor_ext.dispatch.workgroup_count_from_slice()
      flow.return %x, %y, %z : index, index, index
    }
    %2 = tensor.empty() : tensor<2x4xf32>
    %transposed_0 = linalg.transpose ins(%1 : tensor<4x2xf32>) outs(%2 : tensor<2x4xf32>) permutation = [1, 0] 
    util.return %transposed_0 : tensor<2x4xf32>
  }
}
