// conv3x3(x, W, stride 2, SAME) on a 1x5x5x2 map, 2 -> 2 channels: output 0 reads taps
// (0, 0), (1, 1), (2, 1), output 1 taps (1, 1), (0, 2); density 5/36. JAX pads the input
// explicitly (tensor.pad), so the convolution itself is VALID on a 1x7x7x2 map.
#config = #iree_cpu.lowering_config<distribution = [1, 6, 2, 4, 2], vector_common_parallel = [1, 1, 1, 4, 2]>
#config1 = #iree_cpu.lowering_config<distribution = [8, 16], vector_common_parallel = [1, 16]>
#map = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3, d4)>
#map1 = affine_map<(d0, d1, d2, d3, d4) -> (d0, d2, d4, d1, d3)>
#map2 = affine_map<(d0, d1) -> (d0)>
#map3 = affine_map<(d0, d1) -> (d0, d1)>
#translation = #iree_codegen.translation_info<pipeline = #iree_cpu.pipeline<DoubleTilingExpert>>
#compilation = #iree_codegen.compilation_info<lowering_config = #config, translation_info = #translation>
#compilation1 = #iree_codegen.compilation_info<lowering_config = #config1, translation_info = #translation>
module @taps {
  util.func public @main(%arg0: tensor<1x5x5x2xf32>) -> tensor<1x3x3x2xf32> {
    %cst = arith.constant 0.000000e+00 : f32
    %padded = tensor.pad %arg0 low[0, 1, 1, 0] high[0, 1, 1, 0] {
    ^bb0(%arg1: index, %arg2: index, %arg3: index, %arg4: index):
      tensor.yield %cst : f32
    } : tensor<1x5x5x2xf32> to tensor<1x7x7x2xf32>
    %cst_0 = arith.constant dense<[[1, 0, 0, 1], [0, 0, 1, 0]]> : tensor<2x4xi32>
    %cst_1 = arith.constant dense<[[1.000000e+00, 0.000000e+00, 2.000000e+00, -1.000000e+00], [0.000000e+00, -2.000000e+00, 5.000000e-01, 0.000000e+00]]> : tensor<2x4xf32>
    %cst_2 = arith.constant dense<0.000000e+00> : tensor<2xf32>
    %collapsed = tensor.collapse_shape %padded [[0, 1], [2], [3]] : tensor<1x7x7x2xf32> into tensor<7x7x2xf32>
    %0 = tensor.empty() : tensor<2x7x7xf32>
    %transposed = linalg.transpose ins(%collapsed : tensor<7x7x2xf32>) outs(%0 : tensor<2x7x7xf32>) permutation = [2, 0, 1] 
    %padded_3 = tensor.pad %transposed low[0, 0, 0] high[0, 5, 1] {
    ^bb0(%arg1: index, %arg2: index, %arg3: index):
      %cst_9 = arith.constant 0.000000e+00 : f32
      tensor.yield %cst_9 : f32
    } : tensor<2x7x7xf32> to tensor<2x12x8xf32>
    %expanded = tensor.expand_shape %padded_3 [[0], [1, 2], [3, 4]] output_shape [2, 6, 2, 4, 2] : tensor<2x12x8xf32> into tensor<2x6x2x4x2xf32>
    %1 = flow.dispatch.workgroups(%expanded) : (tensor<2x6x2x4x2xf32>) -> tensor<2x2x2x6x4xf32> =
        (%arg1: !iree_tensor_ext.dispatch.tensor<readonly:tensor<2x6x2x4x2xf32>>, %arg2: !iree_tensor_ext.dispatch.tensor<writeonly:tensor<2x2x2x6x4xf32>>) {
      %4 = iree_tensor_ext.dispatch.tensor.load %arg1, offsets = [0, 0, 0, 0, 0], sizes = [2, 6, 2, 4, 2], strides = [1, 1, 1, 1, 1] : !iree_tensor_ext.dispatch.tensor<readonly:tensor<2x6x2x4x2xf32>> -> tensor<2x6x2x4x2xf32>
      %5 = tensor.empty() : tensor<2x2x2x6x4xf32>
      %6 = linalg.generic {indexing_maps = [#map, #map1], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel"]} ins(%4 : tensor<2x6x2x4x2xf32>) outs(%5 : tensor<2x2x2x6x4xf32>) attrs =  {compilation_info = #compilation} {
      ^bb0(%in: f32, %out: f32):
        linalg.yield %in : f32
      } -> tensor<2x2x2x6x4xf32>
      iree_tensor_ext.dispatch.tensor.store %6, %arg2, offsets = [0, 0, 0, 0, 0], sizes = [2, 2, 2, 6, 4], strides = [1, 1, 1, 1, 1] : tensor<2x2x2x6x4xf32> -> !iree_tensor_ext.dispatch.tensor<writeonly:tensor<2x2x2x6x4xf32>>
      flow.return
    } count() -> (index, index, index) {
      %x, %y, %z = iree_tensor_ext.dispatch.workgroup_count_from_slice()
      flow.return %x, %y, %z : index, index, index
    }
    %collapsed_4 = tensor.collapse_shape %1 [[0], [1, 2], [3, 4]] : tensor<2x2x2x6x4xf32> into tensor<2x4x24xf32>
    %2 = flow.dispatch.workgroups(%collapsed_4, %cst_0, %cst_1, %cst_2) : (tensor<2x4x24xf32>, tensor<2x4xi32>, tensor<2x4xf32>, tensor<2xf32>) -> tensor<2x16xf32> =
        (%arg1: !iree_tensor_ext.dispatch.tensor<readonly:tensor<2x4x24xf32>>, %arg2: !iree_tensor_ext.dispatch.tensor<readonly:tensor<2x4xi32>>, %arg3: !iree_tensor_ext.dispatch.tensor<readonly:tensor<2x4xf32>>, %arg4: !iree_tensor_ext.dispatch.tensor<readonly:tensor<2xf32>>, %arg5: !iree_tensor_ext.dispatch.tensor<writeonly:tensor<2x16xf32>>) {
      %4 = iree_tensor_ext.dispatch.tensor.load %arg1, offsets = [0, 0, 0], sizes = [2, 4, 24], strides = [1, 1, 1] : !iree_tensor_ext.dispatch.tensor<readonly:tensor<2x4x24xf32>> -> tensor<2x4x24xf32>
      %5 = iree_tensor_ext.dispatch.tensor.load %arg2, offsets = [0, 0], sizes = [2, 4], strides = [1, 1] : !iree_tensor_ext.dispatch.tensor<readonly:tensor<2x4xi32>> -> tensor<2x4xi32>
      %6 = iree_tensor_ext.dispatch.tensor.load %arg3, offsets = [0, 0], sizes = [2, 4], strides = [1, 1] : !iree_tensor_ext.dispatch.tensor<readonly:tensor<2x4xf32>> -> tensor<2x4xf32>
      %7 = iree_tensor_ext.dispatch.tensor.load %arg4, offsets = [0], sizes = [2], strides = [1] : !iree_tensor_ext.dispatch.tensor<readonly:tensor<2xf32>> -> tensor<2xf32>
      %c0 = arith.constant 0 : index
      %c1 = arith.constant 1 : index
      %c2 = arith.constant 2 : index
      %c3 = arith.constant 3 : index
      %c0_9 = arith.constant 0 : index
      %c1_10 = arith.constant 1 : index
      %c3_11 = arith.constant 3 : index
      %c0_12 = arith.constant 0 : index
      %c1_13 = arith.constant 1 : index
      %c4 = arith.constant 4 : index
      %8 = tensor.empty() : tensor<2x16xf32>
      %9 = linalg.generic {indexing_maps = [#map2, #map3], iterator_types = ["parallel", "parallel"]} ins(%7 : tensor<2xf32>) outs(%8 : tensor<2x16xf32>) attrs =  {compilation_info = #compilation1} {
      ^bb0(%in: f32, %out: f32):
        %10 = linalg.index 0 : index
        %11 = linalg.index 1 : index
        %12 = arith.addi %11, %c0_12 : index
        %extracted = tensor.extract %5[%10, %c0] : tensor<2x4xi32>
        %13 = arith.index_cast %extracted : i32 to index
        %extracted_14 = tensor.extract %6[%10, %c0] : tensor<2x4xf32>
        %extracted_15 = tensor.extract %4[%13, %c0_9, %12] : tensor<2x4x24xf32>
        %14 = arith.mulf %extracted_14, %extracted_15 : f32
        %15 = arith.addf %in, %14 : f32
        %16 = arith.addi %11, %c1_13 : index
        %extracted_16 = tensor.extract %5[%10, %c1] : tensor<2x4xi32>
        %17 = arith.index_cast %extracted_16 : i32 to index
        %extracted_17 = tensor.extract %6[%10, %c1] : tensor<2x4xf32>
        %extracted_18 = tensor.extract %4[%17, %c0_9, %16] : tensor<2x4x24xf32>
        %18 = arith.mulf %extracted_17, %extracted_18 : f32
        %19 = arith.addf %15, %18 : f32
        %20 = arith.addi %11, %c0_12 : index
        %extracted_19 = tensor.extract %5[%10, %c2] : tensor<2x4xi32>
        %21 = arith.index_cast %extracted_19 : i32 to index
        %extracted_20 = tensor.extract %6[%10, %c2] : tensor<2x4xf32>
        %extracted_21 = tensor.extract %4[%21, %c3_11, %20] : tensor<2x4x24xf32>
        %22 = arith.mulf %extracted_20, %extracted_21 : f32
        %23 = arith.addf %19, %22 : f32
        %24 = arith.addi %11, %c4 : index
        %extracted_22 = tensor.extract %5[%10, %c3] : tensor<2x4xi32>
        %25 = arith.index_cast %extracted_22 : i32 to index
        %extracted_23 = tensor.extract %6[%10, %c3] : tensor<2x4xf32>
        %extracted_24 = tensor.extract %4[%25, %c1_10, %24] : tensor<2x4x24xf32>
        %26 = arith.mulf %extracted_23, %extracted_24 : f32
        %27 = arith.addf %23, %26 : f32
        linalg.yield %27 : f32
      } -> tensor<2x16xf32>
      iree_tensor_ext.dispatch.tensor.store %9, %arg5, offsets = [0, 0], sizes = [2, 16], strides = [1, 1] : tensor<2x16xf32> -> !iree_tensor_ext.dispatch.tensor<writeonly:tensor<2x16xf32>>
      flow.return
    } count() -> (index, index, index) {
      %x, %y, %z = iree_tensor_ext.dispatch.workgroup_count_from_slice()
      flow.return %x, %y, %z : index, index, index
    }
    %extracted_slice = tensor.extract_slice %2[0, 0] [2, 12] [1, 1] : tensor<2x16xf32> to tensor<2x12xf32>
    %expanded_5 = tensor.expand_shape %extracted_slice [[0], [1, 2]] output_shape [2, 3, 4] : tensor<2x12xf32> into tensor<2x3x4xf32>
    %extracted_slice_6 = tensor.extract_slice %expanded_5[0, 0, 0] [2, 3, 3] [1, 1, 1] : tensor<2x3x4xf32> to tensor<2x3x3xf32>
    %3 = tensor.empty() : tensor<3x3x2xf32>
    %transposed_7 = linalg.transpose ins(%extracted_slice_6 : tensor<2x3x3xf32>) outs(%3 : tensor<3x3x2xf32>) permutation = [1, 2, 0] 
    %expanded_8 = tensor.expand_shape %transposed_7 [[0, 1], [2], [3]] output_shape [1, 3, 3, 2] : tensor<3x3x2xf32> into tensor<1x3x3x2xf32>
    util.return %expanded_8 : tensor<1x3x3x2xf32>
  }
}
