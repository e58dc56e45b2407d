#config = #iree_cpu.lowering_config<distribution = [8, 16], vector_common_parallel = [1, 16]>
#map = affine_map<(d0, d1) -> (d0, d1)>
#translation = #iree_codegen.translation_info<pipeline = #iree_cpu.pipeline<DoubleTilingExpert>>
#compilation = #iree_codegen.compilation_info<lowering_config = #config, translation_info = #translation>
module @taps_blocks {
  util.func public @main(%arg0: tensor<1x4x4x2xf32>) -> tensor<1x4x4x4xf32> {
    %cst = arith.constant 0.000000e+00 : f32
    %padded = tensor.pad %arg0 low[0, 1, 1, 0] high[0, 1, 1, 0] {
    ^bb0(%arg1: index, %arg2: index, %arg3: index, %arg4: index):
      tensor.yield %cst : f32
    } : tensor<1x4x4x2xf32> to tensor<1x6x6x2xf32>
    %cst_0 = arith.constant dense<[[1, 0, 1]]> : tensor<1x3xi32>
    %cst_1 = arith.constant dense<[[[1.000000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00], [-5.000000e-01, -1.000000e+00, -1.500000e+00, -2.000000e+00], [0.000000e+00, 2.500000e-01, 0.000000e+00, 2.500000e-01]]]> : tensor<1x3x4xf32>
    %cst_2 = arith.constant dense<0.000000e+00> : tensor<1x4xf32>
    %collapsed = tensor.collapse_shape %padded [[0, 1], [2], [3]] : tensor<1x6x6x2xf32> into tensor<6x6x2xf32>
    %0 = tensor.empty() : tensor<2x6x6xf32>
    %transposed = linalg.transpose ins(%collapsed : tensor<6x6x2xf32>) outs(%0 : tensor<2x6x6xf32>) permutation = [2, 0, 1] 
    %padded_3 = tensor.pad %transposed low[0, 0, 0] high[0, 2, 0] {
    ^bb0(%arg1: index, %arg2: index, %arg3: index):
      %cst_11 = arith.constant 0.000000e+00 : f32
      tensor.yield %cst_11 : f32
    } : tensor<2x6x6xf32> to tensor<2x8x6xf32>
    %expanded = tensor.expand_shape %padded_3 [[0], [1, 2], [3, 4]] output_shape [2, 8, 1, 6, 1] : tensor<2x8x6xf32> into tensor<2x8x1x6x1xf32>
    %1 = tensor.empty() : tensor<2x1x1x8x6xf32>
    %transposed_4 = linalg.transpose ins(%expanded : tensor<2x8x1x6x1xf32>) outs(%1 : tensor<2x1x1x8x6xf32>) permutation = [0, 2, 4, 1, 3] 
    %collapsed_5 = tensor.collapse_shape %transposed_4 [[0], [1, 2], [3, 4]] : tensor<2x1x1x8x6xf32> into tensor<2x1x48xf32>
    %2 = flow.dispatch.workgroups(%collapsed_5, %cst_0, %cst_1, %cst_2) : (tensor<2x1x48xf32>, tensor<1x3xi32>, tensor<1x3x4xf32>, tensor<1x4xf32>) -> tensor<1x4x32xf32> =
        (%arg1: !iree_tensor_ext.dispatch.tensor<readonly:tensor<2x1x48xf32>>, %arg2: !iree_tensor_ext.dispatch.tensor<readonly:tensor<1x3xi32>>, %arg3: !iree_tensor_ext.dispatch.tensor<readonly:tensor<1x3x4xf32>>, %arg4: !iree_tensor_ext.dispatch.tensor<readonly:tensor<1x4xf32>>, %arg5: !iree_tensor_ext.dispatch.tensor<writeonly:tensor<1x4x32xf32>>) {
      %4 = iree_tensor_ext.dispatch.tensor.load %arg1, offsets = [0, 0, 0], sizes = [2, 1, 48], strides = [1, 1, 1] : !iree_tensor_ext.dispatch.tensor<readonly:tensor<2x1x48xf32>> -> tensor<2x1x48xf32>
      %5 = iree_tensor_ext.dispatch.tensor.load %arg2, offsets = [0, 0], sizes = [1, 3], strides = [1, 1] : !iree_tensor_ext.dispatch.tensor<readonly:tensor<1x3xi32>> -> tensor<1x3xi32>
      %6 = iree_tensor_ext.dispatch.tensor.load %arg3, offsets = [0, 0, 0], sizes = [1, 3, 4], strides = [1, 1, 1] : !iree_tensor_ext.dispatch.tensor<readonly:tensor<1x3x4xf32>> -> tensor<1x3x4xf32>
      %7 = iree_tensor_ext.dispatch.tensor.load %arg4, offsets = [0, 0], sizes = [1, 4], strides = [1, 1] : !iree_tensor_ext.dispatch.tensor<readonly:tensor<1x4xf32>> -> tensor<1x4xf32>
      %c0 = arith.constant 0 : index
      %c1 = arith.constant 1 : index
      %c2 = arith.constant 2 : index
      %c0_11 = arith.constant 0 : index
      %c1_12 = arith.constant 1 : index
      %c2_13 = arith.constant 2 : index
      %c3 = arith.constant 3 : index
      %c0_14 = arith.constant 0 : index
      %c0_15 = arith.constant 0 : index
      %c7 = arith.constant 7 : index
      %c14 = arith.constant 14 : index
      %8 = tensor.empty() : tensor<1x32xf32>
      %9:4 = linalg.generic {indexing_maps = [#map, #map, #map, #map], iterator_types = ["parallel", "parallel"]} outs(%8, %8, %8, %8 : tensor<1x32xf32>, tensor<1x32xf32>, tensor<1x32xf32>, tensor<1x32xf32>) attrs =  {compilation_info = #compilation} {
      ^bb0(%out: f32, %out_16: f32, %out_17: f32, %out_18: f32):
        %10 = linalg.index 0 : index
        %11 = linalg.index 1 : index
        %extracted = tensor.extract %7[%10, %c0_11] : tensor<1x4xf32>
        %extracted_19 = tensor.extract %7[%10, %c1_12] : tensor<1x4xf32>
        %extracted_20 = tensor.extract %7[%10, %c2_13] : tensor<1x4xf32>
        %extracted_21 = tensor.extract %7[%10, %c3] : tensor<1x4xf32>
        %12 = arith.addi %11, %c0_15 : index
        %extracted_22 = tensor.extract %5[%10, %c0] : tensor<1x3xi32>
        %13 = arith.index_cast %extracted_22 : i32 to index
        %extracted_23 = tensor.extract %4[%13, %c0_14, %12] : tensor<2x1x48xf32>
        %extracted_24 = tensor.extract %6[%10, %c0, %c0_11] : tensor<1x3x4xf32>
        %14 = arith.mulf %extracted_24, %extracted_23 : f32
        %15 = arith.addf %extracted, %14 : f32
        %extracted_25 = tensor.extract %6[%10, %c0, %c1_12] : tensor<1x3x4xf32>
        %16 = arith.mulf %extracted_25, %extracted_23 : f32
        %17 = arith.addf %extracted_19, %16 : f32
        %extracted_26 = tensor.extract %6[%10, %c0, %c2_13] : tensor<1x3x4xf32>
        %18 = arith.mulf %extracted_26, %extracted_23 : f32
        %19 = arith.addf %extracted_20, %18 : f32
        %extracted_27 = tensor.extract %6[%10, %c0, %c3] : tensor<1x3x4xf32>
        %20 = arith.mulf %extracted_27, %extracted_23 : f32
        %21 = arith.addf %extracted_21, %20 : f32
        %22 = arith.addi %11, %c7 : index
        %extracted_28 = tensor.extract %5[%10, %c1] : tensor<1x3xi32>
        %23 = arith.index_cast %extracted_28 : i32 to index
        %extracted_29 = tensor.extract %4[%23, %c0_14, %22] : tensor<2x1x48xf32>
        %extracted_30 = tensor.extract %6[%10, %c1, %c0_11] : tensor<1x3x4xf32>
        %24 = arith.mulf %extracted_30, %extracted_29 : f32
        %25 = arith.addf %15, %24 : f32
        %extracted_31 = tensor.extract %6[%10, %c1, %c1_12] : tensor<1x3x4xf32>
        %26 = arith.mulf %extracted_31, %extracted_29 : f32
        %27 = arith.addf %17, %26 : f32
        %extracted_32 = tensor.extract %6[%10, %c1, %c2_13] : tensor<1x3x4xf32>
        %28 = arith.mulf %extracted_32, %extracted_29 : f32
        %29 = arith.addf %19, %28 : f32
        %extracted_33 = tensor.extract %6[%10, %c1, %c3] : tensor<1x3x4xf32>
        %30 = arith.mulf %extracted_33, %extracted_29 : f32
        %31 = arith.addf %21, %30 : f32
        %32 = arith.addi %11, %c14 : index
        %extracted_34 = tensor.extract %5[%10, %c2] : tensor<1x3xi32>
        %33 = arith.index_cast %extracted_34 : i32 to index
        %extracted_35 = tensor.extract %4[%33, %c0_14, %32] : tensor<2x1x48xf32>
        %extracted_36 = tensor.extract %6[%10, %c2, %c0_11] : tensor<1x3x4xf32>
        %34 = arith.mulf %extracted_36, %extracted_35 : f32
        %35 = arith.addf %25, %34 : f32
        %extracted_37 = tensor.extract %6[%10, %c2, %c1_12] : tensor<1x3x4xf32>
        %36 = arith.mulf %extracted_37, %extracted_35 : f32
        %37 = arith.addf %27, %36 : f32
        %extracted_38 = tensor.extract %6[%10, %c2, %c2_13] : tensor<1x3x4xf32>
        %38 = arith.mulf %extracted_38, %extracted_35 : f32
        %39 = arith.addf %29, %38 : f32
        %extracted_39 = tensor.extract %6[%10, %c2, %c3] : tensor<1x3x4xf32>
        %40 = arith.mulf %extracted_39, %extracted_35 : f32
        %41 = arith.addf %31, %40 : f32
        linalg.yield %35, %37, %39, %41 : f32, f32, f32, f32
      } -> (tensor<1x32xf32>, tensor<1x32xf32>, tensor<1x32xf32>, tensor<1x32xf32>)
      iree_tensor_ext.dispatch.tensor.store %9#0, %arg5, offsets = [0, 0, 0], sizes = [1, 1, 32], strides = [1, 1, 1] : tensor<1x32xf32> -> !iree_tensor_ext.dispatch.tensor<writeonly:tensor<1x4x32xf32>>
      iree_tensor_ext.dispatch.tensor.store %9#1, %arg5, offsets = [0, 1, 0], sizes = [1, 1, 32], strides = [1, 1, 1] : tensor<1x32xf32> -> !iree_tensor_ext.dispatch.tensor<writeonly:tensor<1x4x32xf32>>
      iree_tensor_ext.dispatch.tensor.store %9#2, %arg5, offsets = [0, 2, 0], sizes = [1, 1, 32], strides = [1, 1, 1] : tensor<1x32xf32> -> !iree_tensor_ext.dispatch.tensor<writeonly:tensor<1x4x32xf32>>
      iree_tensor_ext.dispatch.tensor.store %9#3, %arg5, offsets = [0, 3, 0], sizes = [1, 1, 32], strides = [1, 1, 1] : tensor<1x32xf32> -> !iree_tensor_ext.dispatch.tensor<writeonly:tensor<1x4x32xf32>>
      flow.return
    } count() -> (index, index, index) {
      %x, %y, %z = iree_tensor_ext.dispatch.workgroup_count_from_slice()
      flow.return %x, %y, %z : index, index, index
    }
    %collapsed_6 = tensor.collapse_shape %2 [[0, 1], [2]] : tensor<1x4x32xf32> into tensor<4x32xf32>
    %extracted_slice = tensor.extract_slice %collapsed_6[0, 0] [4, 24] [1, 1] : tensor<4x32xf32> to tensor<4x24xf32>
    %expanded_7 = tensor.expand_shape %extracted_slice [[0], [1, 2]] output_shape [4, 4, 6] : tensor<4x24xf32> into tensor<4x4x6xf32>
    %extracted_slice_8 = tensor.extract_slice %expanded_7[0, 0, 0] [4, 4, 4] [1, 1, 1] : tensor<4x4x6xf32> to tensor<4x4x4xf32>
    %3 = tensor.empty() : tensor<4x4x4xf32>
    %transposed_9 = linalg.transpose ins(%extracted_slice_8 : tensor<4x4x4xf32>) outs(%3 : tensor<4x4x4xf32>) permutation = [1, 2, 0] 
    %expanded_10 = tensor.expand_shape %transposed_9 [[0, 1], [2], [3]] output_shape [1, 4, 4, 4] : tensor<4x4x4xf32> into tensor<1x4x4x4xf32>
    util.return %expanded_10 : tensor<1x4x4x4xf32>
  }
}
