// relu(conv1x1(x, W) + b) on a 1x2x2x8 map, 8 -> 8 channels, output channels 0-3 reading inputs {1, 6} and 4-7 reading {0, 3} (4x1 blocks), density 0.25.
#config = #iree_cpu.lowering_config<distribution = [8, 16], vector_common_parallel = [1, 16]>
#map = affine_map<(d0, d1) -> (d0, d1)>
#translation = #iree_codegen.translation_info<pipeline = #iree_cpu.pipeline<DoubleTilingExpert>>
#compilation = #iree_codegen.compilation_info<lowering_config = #config, translation_info = #translation>
module @blocks {
  util.func public @main(%arg0: tensor<1x2x2x8xf32>) -> tensor<1x2x2x8xf32> {
    %cst = arith.constant dense<[[1, 6], [0, 3]]> : tensor<2x2xi32>
    %cst_0 = arith.constant dense<[[[1.000000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00], [5.000000e+00, 6.000000e+00, 7.000000e+00, 8.000000e+00]], [[-2.500000e-01, -5.000000e-01, -7.500000e-01, -1.000000e+00], [-1.250000e+00, -1.500000e+00, -1.750000e+00, -2.000000e+00]]]> : tensor<2x2x4xf32>
    %cst_1 = arith.constant dense<[[-5.000000e-01, -3.750000e-01, -2.500000e-01, -1.250000e-01], [0.000000e+00, 1.250000e-01, 2.500000e-01, 3.750000e-01]]> : tensor<2x4xf32>
    %collapsed = tensor.collapse_shape %arg0 [[0, 1, 2], [3]] : tensor<1x2x2x8xf32> into tensor<4x8xf32>
    %0 = tensor.empty() : tensor<8x4xf32>
    %transposed = linalg.transpose ins(%collapsed : tensor<4x8xf32>) outs(%0 : tensor<8x4xf32>) permutation = [1, 0] 
    %1 = flow.dispatch.workgroups(%transposed, %cst, %cst_0, %cst_1) : (tensor<8x4xf32>, tensor<2x2xi32>, tensor<2x2x4xf32>, tensor<2x4xf32>) -> tensor<2x4x4xf32> =
        (%arg1: !iree_tensor_ext.dispatch.tensor<readonly:tensor<8x4xf32>>, %arg2: !iree_tensor_ext.dispatch.tensor<readonly:tensor<2x2xi32>>, %arg3: !iree_tensor_ext.dispatch.tensor<readonly:tensor<2x2x4xf32>>, %arg4: !iree_tensor_ext.dispatch.tensor<readonly:tensor<2x4xf32>>, %arg5: !iree_tensor_ext.dispatch.tensor<writeonly:tensor<2x4x4xf32>>) {
      %3 = iree_tensor_ext.dispatch.tensor.load %arg1, offsets = [0, 0], sizes = [8, 4], strides = [1, 1] : !iree_tensor_ext.dispatch.tensor<readonly:tensor<8x4xf32>> -> tensor<8x4xf32>
      %4 = iree_tensor_ext.dispatch.tensor.load %arg2, offsets = [0, 0], sizes = [2, 2], strides = [1, 1] : !iree_tensor_ext.dispatch.tensor<readonly:tensor<2x2xi32>> -> tensor<2x2xi32>
      %5 = iree_tensor_ext.dispatch.tensor.load %arg3, offsets = [0, 0, 0], sizes = [2, 2, 4], strides = [1, 1, 1] : !iree_tensor_ext.dispatch.tensor<readonly:tensor<2x2x4xf32>> -> tensor<2x2x4xf32>
      %6 = iree_tensor_ext.dispatch.tensor.load %arg4, offsets = [0, 0], sizes = [2, 4], strides = [1, 1] : !iree_tensor_ext.dispatch.tensor<readonly:tensor<2x4xf32>> -> tensor<2x4xf32>
      %c0 = arith.constant 0 : index
      %c1 = arith.constant 1 : index
      %c0_4 = arith.constant 0 : index
      %c1_5 = arith.constant 1 : index
      %c2 = arith.constant 2 : index
      %c3 = arith.constant 3 : index
      %cst_6 = arith.constant 0.000000e+00 : f32
      %7 = tensor.empty() : tensor<2x4xf32>
      %8:4 = linalg.generic {indexing_maps = [#map, #map, #map, #map], iterator_types = ["parallel", "parallel"]} outs(%7, %7, %7, %7 : tensor<2x4xf32>, tensor<2x4xf32>, tensor<2x4xf32>, tensor<2x4xf32>) attrs =  {compilation_info = #compilation} {
      ^bb0(%out: f32, %out_7: f32, %out_8: f32, %out_9: f32):
        %9 = linalg.index 0 : index
        %10 = linalg.index 1 : index
        %extracted = tensor.extract %6[%9, %c0_4] : tensor<2x4xf32>
        %extracted_10 = tensor.extract %6[%9, %c1_5] : tensor<2x4xf32>
        %extracted_11 = tensor.extract %6[%9, %c2] : tensor<2x4xf32>
        %extracted_12 = tensor.extract %6[%9, %c3] : tensor<2x4xf32>
        %extracted_13 = tensor.extract %4[%9, %c0] : tensor<2x2xi32>
        %11 = arith.index_cast %extracted_13 : i32 to index
        %extracted_14 = tensor.extract %3[%11, %10] : tensor<8x4xf32>
        %extracted_15 = tensor.extract %5[%9, %c0, %c0_4] : tensor<2x2x4xf32>
        %12 = arith.mulf %extracted_15, %extracted_14 : f32
        %13 = arith.addf %extracted, %12 : f32
        %extracted_16 = tensor.extract %5[%9, %c0, %c1_5] : tensor<2x2x4xf32>
        %14 = arith.mulf %extracted_16, %extracted_14 : f32
        %15 = arith.addf %extracted_10, %14 : f32
        %extracted_17 = tensor.extract %5[%9, %c0, %c2] : tensor<2x2x4xf32>
        %16 = arith.mulf %extracted_17, %extracted_14 : f32
        %17 = arith.addf %extracted_11, %16 : f32
        %extracted_18 = tensor.extract %5[%9, %c0, %c3] : tensor<2x2x4xf32>
        %18 = arith.mulf %extracted_18, %extracted_14 : f32
        %19 = arith.addf %extracted_12, %18 : f32
        %extracted_19 = tensor.extract %4[%9, %c1] : tensor<2x2xi32>
        %20 = arith.index_cast %extracted_19 : i32 to index
        %extracted_20 = tensor.extract %3[%20, %10] : tensor<8x4xf32>
        %extracted_21 = tensor.extract %5[%9, %c1, %c0_4] : tensor<2x2x4xf32>
        %21 = arith.mulf %extracted_21, %extracted_20 : f32
        %22 = arith.addf %13, %21 : f32
        %extracted_22 = tensor.extract %5[%9, %c1, %c1_5] : tensor<2x2x4xf32>
        %23 = arith.mulf %extracted_22, %extracted_20 : f32
        %24 = arith.addf %15, %23 : f32
        %extracted_23 = tensor.extract %5[%9, %c1, %c2] : tensor<2x2x4xf32>
        %25 = arith.mulf %extracted_23, %extracted_20 : f32
        %26 = arith.addf %17, %25 : f32
        %extracted_24 = tensor.extract %5[%9, %c1, %c3] : tensor<2x2x4xf32>
        %27 = arith.mulf %extracted_24, %extracted_20 : f32
        %28 = arith.addf %19, %27 : f32
        %29 = arith.cmpf olt, %22, %cst_6 : f32
        %30 = arith.select %29, %cst_6, %22 : f32
        %31 = arith.cmpf olt, %24, %cst_6 : f32
        %32 = arith.select %31, %cst_6, %24 : f32
        %33 = arith.cmpf olt, %26, %cst_6 : f32
        %34 = arith.select %33, %cst_6, %26 : f32
        %35 = arith.cmpf olt, %28, %cst_6 : f32
        %36 = arith.select %35, %cst_6, %28 : f32
        linalg.yield %30, %32, %34, %36 : f32, f32, f32, f32
      } -> (tensor<2x4xf32>, tensor<2x4xf32>, tensor<2x4xf32>, tensor<2x4xf32>)
      iree_tensor_ext.dispatch.tensor.store %8#0, %arg5, offsets = [0, 0, 0], sizes = [2, 1, 4], strides = [1, 1, 1] : tensor<2x4xf32> -> !iree_tensor_ext.dispatch.tensor<writeonly:tensor<2x4x4xf32>>
      iree_tensor_ext.dispatch.tensor.store %8#1, %arg5, offsets = [0, 1, 0], sizes = [2, 1, 4], strides = [1, 1, 1] : tensor<2x4xf32> -> !iree_tensor_ext.dispatch.tensor<writeonly:tensor<2x4x4xf32>>
      iree_tensor_ext.dispatch.tensor.store %8#2, %arg5, offsets = [0, 2, 0], sizes = [2, 1, 4], strides = [1, 1, 1] : tensor<2x4xf32> -> !iree_tensor_ext.dispatch.tensor<writeonly:tensor<2x4x4xf32>>
      iree_tensor_ext.dispatch.tensor.store %8#3, %arg5, offsets = [0, 3, 0], sizes = [2, 1, 4], strides = [1, 1, 1] : tensor<2x4xf32> -> !iree_tensor_ext.dispatch.tensor<writeonly:tensor<2x4x4xf32>>
      flow.return
    } count() -> (index, index, index) {
      %x, %y, %z = iree_tensor_ext.dispatch.workgroup_count_from_slice()
      flow.return %x, %y, %z : index, index, index
    }
    %collapsed_2 = tensor.collapse_shape %1 [[0, 1], [2]] : tensor<2x4x4xf32> into tensor<8x4xf32>
    %2 = tensor.empty() : tensor<4x8xf32>
    %transposed_3 = linalg.transpose ins(%collapsed_2 : tensor<8x4xf32>) outs(%2 : tensor<4x8xf32>) permutation = [1, 0] 
    %expanded = tensor.expand_shape %transposed_3 [[0, 1, 2], [3]] output_shape [1, 2, 2, 8] : tensor<4x8xf32> into tensor<1x2x2x8xf32>
    util.return %expanded : tensor<1x2x2x8xf32>
  }
}
