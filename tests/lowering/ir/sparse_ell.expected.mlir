// x[2, 8] @ W[8, 4] with 1, 3, 0 and 2 nonzeros per output channel (unstructured, one empty row), density 0.1875.
#config = #iree_cpu.lowering_config<distribution = [8, 64], vector_common_parallel = [1, 64]>
#map = affine_map<(d0, d1) -> (d0)>
#map1 = affine_map<(d0, d1) -> (d0, d1)>
#translation = #iree_codegen.translation_info<pipeline = #iree_cpu.pipeline<DoubleTilingExpert>>
#compilation = #iree_codegen.compilation_info<lowering_config = #config, translation_info = #translation>
module @ell {
  util.func public @main(%arg0: tensor<2x8xf32>) -> tensor<2x4xf32> {
    %cst = arith.constant dense<[[2, 2, 2], [0, 4, 7], [0, 0, 0], [1, 6, 6]]> : tensor<4x3xi32>
    %cst_0 = arith.constant dense<[[1.500000e+00, 0.000000e+00, 0.000000e+00], [2.000000e+00, -1.000000e+00, 5.000000e-01], [0.000000e+00, 0.000000e+00, 0.000000e+00], [-3.000000e+00, 2.500000e-01, 0.000000e+00]]> : tensor<4x3xf32>
    %cst_1 = arith.constant dense<0.000000e+00> : tensor<4xf32>
    %0 = tensor.empty() : tensor<8x2xf32>
    %transposed = linalg.transpose ins(%arg0 : tensor<2x8xf32>) outs(%0 : tensor<8x2xf32>) permutation = [1, 0] 
    %1 = flow.dispatch.workgroups(%transposed, %cst, %cst_0, %cst_1) : (tensor<8x2xf32>, tensor<4x3xi32>, tensor<4x3xf32>, tensor<4xf32>) -> tensor<4x2xf32> =
        (%arg1: !iree_tensor_ext.dispatch.tensor<readonly:tensor<8x2xf32>>, %arg2: !iree_tensor_ext.dispatch.tensor<readonly:tensor<4x3xi32>>, %arg3: !iree_tensor_ext.dispatch.tensor<readonly:tensor<4x3xf32>>, %arg4: !iree_tensor_ext.dispatch.tensor<readonly:tensor<4xf32>>, %arg5: !iree_tensor_ext.dispatch.tensor<writeonly:tensor<4x2xf32>>) {
      %3 = iree_tensor_ext.dispatch.tensor.load %arg1, offsets = [0, 0], sizes = [8, 2], strides = [1, 1] : !iree_tensor_ext.dispatch.tensor<readonly:tensor<8x2xf32>> -> tensor<8x2xf32>
      %4 = iree_tensor_ext.dispatch.tensor.load %arg2, offsets = [0, 0], sizes = [4, 3], strides = [1, 1] : !iree_tensor_ext.dispatch.tensor<readonly:tensor<4x3xi32>> -> tensor<4x3xi32>
      %5 = iree_tensor_ext.dispatch.tensor.load %arg3, offsets = [0, 0], sizes = [4, 3], strides = [1, 1] : !iree_tensor_ext.dispatch.tensor<readonly:tensor<4x3xf32>> -> tensor<4x3xf32>
      %6 = iree_tensor_ext.dispatch.tensor.load %arg4, offsets = [0], sizes = [4], strides = [1] : !iree_tensor_ext.dispatch.tensor<readonly:tensor<4xf32>> -> tensor<4xf32>
      %c0 = arith.constant 0 : index
      %c1 = arith.constant 1 : index
      %c2 = arith.constant 2 : index
      %7 = tensor.empty() : tensor<4x2xf32>
      %8 = linalg.generic {indexing_maps = [#map, #map1], iterator_types = ["parallel", "parallel"]} ins(%6 : tensor<4xf32>) outs(%7 : tensor<4x2xf32>) attrs =  {compilation_info = #compilation} {
      ^bb0(%in: f32, %out: f32):
        %9 = linalg.index 0 : index
        %10 = linalg.index 1 : index
        %extracted = tensor.extract %4[%9, %c0] : tensor<4x3xi32>
        %11 = arith.index_cast %extracted : i32 to index
        %extracted_3 = tensor.extract %5[%9, %c0] : tensor<4x3xf32>
        %extracted_4 = tensor.extract %3[%11, %10] : tensor<8x2xf32>
        %12 = arith.mulf %extracted_3, %extracted_4 : f32
        %13 = arith.addf %in, %12 : f32
        %extracted_5 = tensor.extract %4[%9, %c1] : tensor<4x3xi32>
        %14 = arith.index_cast %extracted_5 : i32 to index
        %extracted_6 = tensor.extract %5[%9, %c1] : tensor<4x3xf32>
        %extracted_7 = tensor.extract %3[%14, %10] : tensor<8x2xf32>
        %15 = arith.mulf %extracted_6, %extracted_7 : f32
        %16 = arith.addf %13, %15 : f32
        %extracted_8 = tensor.extract %4[%9, %c2] : tensor<4x3xi32>
        %17 = arith.index_cast %extracted_8 : i32 to index
        %extracted_9 = tensor.extract %5[%9, %c2] : tensor<4x3xf32>
        %extracted_10 = tensor.extract %3[%17, %10] : tensor<8x2xf32>
        %18 = arith.mulf %extracted_9, %extracted_10 : f32
        %19 = arith.addf %16, %18 : f32
        linalg.yield %19 : f32
      } -> tensor<4x2xf32>
      iree_tensor_ext.dispatch.tensor.store %8, %arg5, offsets = [0, 0], sizes = [4, 2], strides = [1, 1] : tensor<4x2xf32> -> !iree_tensor_ext.dispatch.tensor<writeonly:tensor<4x2xf32>>
      flow.return
    } count() -> (index, index, index) {
      %x, %y, %z = iree_tensor_ext.dispatch.workgroup_count_from_slice()
      flow.return %x, %y, %z : index, index, index
    }
    %2 = tensor.empty() : tensor<2x4xf32>
    %transposed_2 = linalg.transpose ins(%1 : tensor<4x2xf32>) outs(%2 : tensor<2x4xf32>) permutation = [1, 0] 
    util.return %transposed_2 : tensor<2x4xf32>
  }
}
