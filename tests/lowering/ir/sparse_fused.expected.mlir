// A channel-major inverted residual without its projection, as JAX's input IR has it after
// `lowering.channels_first`: an expanding 1x1 conv 4 -> 8 (two 4x1 blocks reading one input
// channel each, density 1/4) with bias and ReLU, then a 3x3 depthwise conv, stride 1, SAME,
// on an 8x14 map. On CPU both become one dispatch (`_sparse_fused_kernels`): per workgroup
// one 4-channel block and one band of output rows, the expansion into a stack buffer first.
#config = #iree_cpu.lowering_config<distribution = [0, 0, 0], vector_common_parallel = [1, 1, 16]>
#config1 = #iree_cpu.lowering_config<distribution = [0, 0], vector_common_parallel = [1, 16]>
#map = affine_map<(d0, d1, d2, d3) -> (d0, d2, d3, d1)>
#map1 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#map2 = affine_map<(d0, d1, d2) -> (d1, d2)>
#map3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#map4 = affine_map<(d0, d1) -> (d0, d1)>
#map5 = affine_map<(d0, d1, d2, d3) -> (d0, d3, d1, d2)>
#translation = #iree_codegen.translation_info<pipeline = #iree_cpu.pipeline<DoubleTilingExpert>>
#compilation = #iree_codegen.compilation_info<lowering_config = #config1, translation_info = #translation>
module @jit_wrapped {
  util.func public @main(%arg0: tensor<1x8x14x4xf32>) -> tensor<1x8x14x8xf32> {
    %0 = tensor.empty() : tensor<1x4x8x14xf32>
    %1 = linalg.generic {indexing_maps = [#map, #map1], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%arg0 : tensor<1x8x14x4xf32>) outs(%0 : tensor<1x4x8x14xf32>) {
    ^bb0(%in: f32, %out: f32):
      linalg.yield %in : f32
    } -> tensor<1x4x8x14xf32>
    %collapsed = tensor.collapse_shape %1 [[0, 1], [2], [3]] : tensor<1x4x8x14xf32> into tensor<4x8x14xf32>
    %padded = tensor.pad %collapsed low[0, 1, 1] high[0, 2, 1] {
    ^bb0(%arg1: index, %arg2: index, %arg3: index):
      %cst_11 = arith.constant 0.000000e+00 : f32
      tensor.yield %cst_11 : f32
    } : tensor<4x8x14xf32> to tensor<4x11x16xf32>
    %expanded = tensor.expand_shape %padded [[0], [1, 2], [3, 4]] output_shape [4, 11, 1, 16, 1] : tensor<4x11x16xf32> into tensor<4x11x1x16x1xf32>
    %2 = tensor.empty() : tensor<4x1x1x11x16xf32>
    %transposed = linalg.transpose ins(%expanded : tensor<4x11x1x16x1xf32>) outs(%2 : tensor<4x1x1x11x16xf32>) permutation = [0, 2, 4, 1, 3] 
    %collapsed_0 = tensor.collapse_shape %transposed [[0], [1, 2], [3, 4]] : tensor<4x1x1x11x16xf32> into tensor<4x1x176xf32>
    %collapsed_1 = tensor.collapse_shape %collapsed_0 [[0], [1, 2]] : tensor<4x1x176xf32> into tensor<4x176xf32>
    %cst = arith.constant dense<[[1], [3]]> : tensor<2x1xi32>
    %cst_2 = arith.constant dense<[[[1.000000e+00, -1.000000e+00, 2.000000e+00, 5.000000e-01]], [[5.000000e-01, 1.000000e+00, -2.000000e+00, 1.000000e+00]]]> : tensor<2x1x4xf32>
    %cst_3 = arith.constant dense<[[1.000000e-01, -2.000000e-01, 3.000000e-01, 0.000000e+00], [5.000000e-01, -5.000000e-01, 2.500000e-01, 1.000000e+00]]> : tensor<2x4xf32>
    %cst_4 = arith.constant dense<"0x00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F00000000000000000000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F00000000000000000000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F00000000000000000000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F00000000000000000000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F00000000000000000000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F00000000000000000000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F00000000000000000000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"> : tensor<1x176xf32>
    %cst_5 = arith.constant dense<[[[2.000000e+00, 3.300000e+00, 1.000000e+00, -3.000000e-01], [-2.600000e+00, 2.000000e-01, -2.000000e-01, -2.000000e-01], [4.000000e-01, -4.000000e-01, 0.000000e+00, 1.000000e+00], [-6.000000e-01, -3.000000e-01, 1.500000e+00, -0.899999976], [-5.000000e-01, -0.699999988, 5.000000e-01, -3.000000e-01], [-2.000000e-01, -1.100000e+00, -5.000000e-01, 0.899999976], [-2.000000e+00, -4.000000e-01, -2.000000e-01, 6.000000e-01], [-2.000000e-01, 5.000000e-01, 5.000000e-01, 1.000000e-01], [-0.899999976, -2.000000e-01, 1.900000e+00, 0.699999988]], [[-2.800000e+00, -1.000000e-01, -2.000000e-01, 8.000000e-01], [1.000000e+00, 1.400000e+00, -8.000000e-01, -2.000000e+00], [-1.000000e+00, 0.699999988, 2.000000e-01, -0.899999976], [-1.700000e+00, 2.000000e-01, -2.500000e+00, 0.699999988], [3.000000e-01, 1.100000e+00, 0.699999988, 1.200000e+00], [0.699999988, -2.000000e-01, 5.000000e-01, -2.200000e+00], [-4.000000e-01, -0.899999976, -1.600000e+00, -5.000000e-01], [-1.100000e+00, 6.000000e-01, 1.000000e-01, 3.000000e-01], [0.000000e+00, 6.000000e-01, -1.000000e+00, -6.000000e-01]]]> : tensor<2x9x4xf32>
    %cst_6 = arith.constant dense<0.000000e+00> : tensor<2x4xf32>
    %expanded_7 = tensor.expand_shape %collapsed_1 [[0], [1, 2]] output_shape [4, 1, 176] : tensor<4x176xf32> into tensor<4x1x176xf32>
    %c2 = arith.constant 2 : index
    %c1 = arith.constant 1 : index
    %3 = flow.dispatch.workgroups[%c2, %c1](%expanded_7, %cst, %cst_2, %cst_3, %cst_4, %cst_5, %cst_6) : (tensor<4x1x176xf32>, tensor<2x1xi32>, tensor<2x1x4xf32>, tensor<2x4xf32>, tensor<1x176xf32>, tensor<2x9x4xf32>, tensor<2x4xf32>) -> tensor<2x4x128xf32> =
        (%arg1: !iree_tensor_ext.dispatch.tensor<readonly:tensor<4x1x176xf32>>, %arg2: !iree_tensor_ext.dispatch.tensor<readonly:tensor<2x1xi32>>, %arg3: !iree_tensor_ext.dispatch.tensor<readonly:tensor<2x1x4xf32>>, %arg4: !iree_tensor_ext.dispatch.tensor<readonly:tensor<2x4xf32>>, %arg5: !iree_tensor_ext.dispatch.tensor<readonly:tensor<1x176xf32>>, %arg6: !iree_tensor_ext.dispatch.tensor<readonly:tensor<2x9x4xf32>>, %arg7: !iree_tensor_ext.dispatch.tensor<readonly:tensor<2x4xf32>>, %arg8: !iree_tensor_ext.dispatch.tensor<writeonly:tensor<2x4x128xf32>>) {
      %workgroup_id_0 = flow.dispatch.workgroup.id[0] : index
      %workgroup_id_1 = flow.dispatch.workgroup.id[1] : index
      %c128 = arith.constant 128 : index
      %6 = arith.muli %workgroup_id_1, %c128 : index
      %c0 = arith.constant 0 : index
      %7 = iree_tensor_ext.dispatch.tensor.load %arg1, offsets = [0, 0, %6], sizes = [4, 1, 176], strides = [1, 1, 1] : !iree_tensor_ext.dispatch.tensor<readonly:tensor<4x1x176xf32>> -> tensor<4x1x176xf32>
      %8 = iree_tensor_ext.dispatch.tensor.load %arg5, offsets = [0, %6], sizes = [1, 176], strides = [1, 1] : !iree_tensor_ext.dispatch.tensor<readonly:tensor<1x176xf32>> -> tensor<1x176xf32>
      %9 = iree_tensor_ext.dispatch.tensor.load %arg2, offsets = [%workgroup_id_0, 0], sizes = [1, 1], strides = [1, 1] : !iree_tensor_ext.dispatch.tensor<readonly:tensor<2x1xi32>> -> tensor<1x1xi32>
      %10 = iree_tensor_ext.dispatch.tensor.load %arg3, offsets = [%workgroup_id_0, 0, 0], sizes = [1, 1, 4], strides = [1, 1, 1] : !iree_tensor_ext.dispatch.tensor<readonly:tensor<2x1x4xf32>> -> tensor<1x1x4xf32>
      %11 = iree_tensor_ext.dispatch.tensor.load %arg4, offsets = [%workgroup_id_0, 0], sizes = [1, 4], strides = [1, 1] : !iree_tensor_ext.dispatch.tensor<readonly:tensor<2x4xf32>> -> tensor<1x4xf32>
      %12 = iree_tensor_ext.dispatch.tensor.load %arg6, offsets = [%workgroup_id_0, 0, 0], sizes = [1, 9, 4], strides = [1, 1, 1] : !iree_tensor_ext.dispatch.tensor<readonly:tensor<2x9x4xf32>> -> tensor<1x9x4xf32>
      %13 = iree_tensor_ext.dispatch.tensor.load %arg7, offsets = [%workgroup_id_0, 0], sizes = [1, 4], strides = [1, 1] : !iree_tensor_ext.dispatch.tensor<readonly:tensor<2x4xf32>> -> tensor<1x4xf32>
      %c0_11 = arith.constant 0 : index
      %c1_12 = arith.constant 1 : index
      %c2_13 = arith.constant 2 : index
      %c3 = arith.constant 3 : index
      %c4 = arith.constant 4 : index
      %c5 = arith.constant 5 : index
      %c6 = arith.constant 6 : index
      %c7 = arith.constant 7 : index
      %c8 = arith.constant 8 : index
      %c0_14 = arith.constant 0 : index
      %c1_15 = arith.constant 1 : index
      %c2_16 = arith.constant 2 : index
      %c3_17 = arith.constant 3 : index
      %c0_18 = arith.constant 0 : index
      %c0_19 = arith.constant 0 : index
      %c1_20 = arith.constant 1 : index
      %c2_21 = arith.constant 2 : index
      %c16 = arith.constant 16 : index
      %c17 = arith.constant 17 : index
      %c18 = arith.constant 18 : index
      %c32 = arith.constant 32 : index
      %c33 = arith.constant 33 : index
      %c34 = arith.constant 34 : index
      %cst_22 = arith.constant 0.000000e+00 : f32
      %14 = tensor.empty() : tensor<1x1x176xf32>
      %15:4 = linalg.generic {indexing_maps = [#map2, #map3, #map3, #map3, #map3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%8 : tensor<1x176xf32>) outs(%14, %14, %14, %14 : tensor<1x1x176xf32>, tensor<1x1x176xf32>, tensor<1x1x176xf32>, tensor<1x1x176xf32>) attrs =  {lowering_config = #config} {
      ^bb0(%in: f32, %out: f32, %out_23: f32, %out_24: f32, %out_25: f32):
        %18 = linalg.index 1 : index
        %19 = linalg.index 2 : index
        %extracted = tensor.extract %11[%c0, %c0_14] : tensor<1x4xf32>
        %extracted_26 = tensor.extract %11[%c0, %c1_15] : tensor<1x4xf32>
        %extracted_27 = tensor.extract %11[%c0, %c2_16] : tensor<1x4xf32>
        %extracted_28 = tensor.extract %11[%c0, %c3_17] : tensor<1x4xf32>
        %extracted_29 = tensor.extract %9[%c0, %c0_11] : tensor<1x1xi32>
        %20 = arith.index_cast %extracted_29 : i32 to index
        %extracted_30 = tensor.extract %7[%20, %18, %19] : tensor<4x1x176xf32>
        %extracted_31 = tensor.extract %10[%c0, %c0_11, %c0_14] : tensor<1x1x4xf32>
        %21 = arith.mulf %extracted_31, %extracted_30 : f32
        %22 = arith.addf %extracted, %21 : f32
        %extracted_32 = tensor.extract %10[%c0, %c0_11, %c1_15] : tensor<1x1x4xf32>
        %23 = arith.mulf %extracted_32, %extracted_30 : f32
        %24 = arith.addf %extracted_26, %23 : f32
        %extracted_33 = tensor.extract %10[%c0, %c0_11, %c2_16] : tensor<1x1x4xf32>
        %25 = arith.mulf %extracted_33, %extracted_30 : f32
        %26 = arith.addf %extracted_27, %25 : f32
        %extracted_34 = tensor.extract %10[%c0, %c0_11, %c3_17] : tensor<1x1x4xf32>
        %27 = arith.mulf %extracted_34, %extracted_30 : f32
        %28 = arith.addf %extracted_28, %27 : f32
        %29 = arith.cmpf olt, %22, %cst_22 : f32
        %30 = arith.select %29, %cst_22, %22 : f32
        %31 = arith.cmpf olt, %24, %cst_22 : f32
        %32 = arith.select %31, %cst_22, %24 : f32
        %33 = arith.cmpf olt, %26, %cst_22 : f32
        %34 = arith.select %33, %cst_22, %26 : f32
        %35 = arith.cmpf olt, %28, %cst_22 : f32
        %36 = arith.select %35, %cst_22, %28 : f32
        %cst_35 = arith.constant 0.000000e+00 : f32
        %37 = arith.cmpf one, %in, %cst_35 : f32
        %38 = arith.select %37, %30, %cst_35 : f32
        %39 = arith.select %37, %32, %cst_35 : f32
        %40 = arith.select %37, %34, %cst_35 : f32
        %41 = arith.select %37, %36, %cst_35 : f32
        linalg.yield %38, %39, %40, %41 : f32, f32, f32, f32
      } -> (tensor<1x1x176xf32>, tensor<1x1x176xf32>, tensor<1x1x176xf32>, tensor<1x1x176xf32>)
      %16 = tensor.empty() : tensor<1x128xf32>
      %17:4 = linalg.generic {indexing_maps = [#map4, #map4, #map4, #map4], iterator_types = ["parallel", "parallel"]} outs(%16, %16, %16, %16 : tensor<1x128xf32>, tensor<1x128xf32>, tensor<1x128xf32>, tensor<1x128xf32>) attrs =  {compilation_info = #compilation} {
      ^bb0(%out: f32, %out_23: f32, %out_24: f32, %out_25: f32):
        %18 = linalg.index 1 : index
        %extracted = tensor.extract %13[%c0, %c0_14] : tensor<1x4xf32>
        %extracted_26 = tensor.extract %13[%c0, %c1_15] : tensor<1x4xf32>
        %extracted_27 = tensor.extract %13[%c0, %c2_16] : tensor<1x4xf32>
        %extracted_28 = tensor.extract %13[%c0, %c3_17] : tensor<1x4xf32>
        %19 = arith.addi %18, %c0_19 : index
        %extracted_29 = tensor.extract %15#0[%c0, %c0_18, %19] : tensor<1x1x176xf32>
        %extracted_30 = tensor.extract %12[%c0, %c0_11, %c0_14] : tensor<1x9x4xf32>
        %20 = arith.mulf %extracted_30, %extracted_29 : f32
        %21 = arith.addf %extracted, %20 : f32
        %extracted_31 = tensor.extract %15#1[%c0, %c0_18, %19] : tensor<1x1x176xf32>
        %extracted_32 = tensor.extract %12[%c0, %c0_11, %c1_15] : tensor<1x9x4xf32>
        %22 = arith.mulf %extracted_32, %extracted_31 : f32
        %23 = arith.addf %extracted_26, %22 : f32
        %extracted_33 = tensor.extract %15#2[%c0, %c0_18, %19] : tensor<1x1x176xf32>
        %extracted_34 = tensor.extract %12[%c0, %c0_11, %c2_16] : tensor<1x9x4xf32>
        %24 = arith.mulf %extracted_34, %extracted_33 : f32
        %25 = arith.addf %extracted_27, %24 : f32
        %extracted_35 = tensor.extract %15#3[%c0, %c0_18, %19] : tensor<1x1x176xf32>
        %extracted_36 = tensor.extract %12[%c0, %c0_11, %c3_17] : tensor<1x9x4xf32>
        %26 = arith.mulf %extracted_36, %extracted_35 : f32
        %27 = arith.addf %extracted_28, %26 : f32
        %28 = arith.addi %18, %c1_20 : index
        %extracted_37 = tensor.extract %15#0[%c0, %c0_18, %28] : tensor<1x1x176xf32>
        %extracted_38 = tensor.extract %12[%c0, %c1_12, %c0_14] : tensor<1x9x4xf32>
        %29 = arith.mulf %extracted_38, %extracted_37 : f32
        %30 = arith.addf %21, %29 : f32
        %extracted_39 = tensor.extract %15#1[%c0, %c0_18, %28] : tensor<1x1x176xf32>
        %extracted_40 = tensor.extract %12[%c0, %c1_12, %c1_15] : tensor<1x9x4xf32>
        %31 = arith.mulf %extracted_40, %extracted_39 : f32
        %32 = arith.addf %23, %31 : f32
        %extracted_41 = tensor.extract %15#2[%c0, %c0_18, %28] : tensor<1x1x176xf32>
        %extracted_42 = tensor.extract %12[%c0, %c1_12, %c2_16] : tensor<1x9x4xf32>
        %33 = arith.mulf %extracted_42, %extracted_41 : f32
        %34 = arith.addf %25, %33 : f32
        %extracted_43 = tensor.extract %15#3[%c0, %c0_18, %28] : tensor<1x1x176xf32>
        %extracted_44 = tensor.extract %12[%c0, %c1_12, %c3_17] : tensor<1x9x4xf32>
        %35 = arith.mulf %extracted_44, %extracted_43 : f32
        %36 = arith.addf %27, %35 : f32
        %37 = arith.addi %18, %c2_21 : index
        %extracted_45 = tensor.extract %15#0[%c0, %c0_18, %37] : tensor<1x1x176xf32>
        %extracted_46 = tensor.extract %12[%c0, %c2_13, %c0_14] : tensor<1x9x4xf32>
        %38 = arith.mulf %extracted_46, %extracted_45 : f32
        %39 = arith.addf %30, %38 : f32
        %extracted_47 = tensor.extract %15#1[%c0, %c0_18, %37] : tensor<1x1x176xf32>
        %extracted_48 = tensor.extract %12[%c0, %c2_13, %c1_15] : tensor<1x9x4xf32>
        %40 = arith.mulf %extracted_48, %extracted_47 : f32
        %41 = arith.addf %32, %40 : f32
        %extracted_49 = tensor.extract %15#2[%c0, %c0_18, %37] : tensor<1x1x176xf32>
        %extracted_50 = tensor.extract %12[%c0, %c2_13, %c2_16] : tensor<1x9x4xf32>
        %42 = arith.mulf %extracted_50, %extracted_49 : f32
        %43 = arith.addf %34, %42 : f32
        %extracted_51 = tensor.extract %15#3[%c0, %c0_18, %37] : tensor<1x1x176xf32>
        %extracted_52 = tensor.extract %12[%c0, %c2_13, %c3_17] : tensor<1x9x4xf32>
        %44 = arith.mulf %extracted_52, %extracted_51 : f32
        %45 = arith.addf %36, %44 : f32
        %46 = arith.addi %18, %c16 : index
        %extracted_53 = tensor.extract %15#0[%c0, %c0_18, %46] : tensor<1x1x176xf32>
        %extracted_54 = tensor.extract %12[%c0, %c3, %c0_14] : tensor<1x9x4xf32>
        %47 = arith.mulf %extracted_54, %extracted_53 : f32
        %48 = arith.addf %39, %47 : f32
        %extracted_55 = tensor.extract %15#1[%c0, %c0_18, %46] : tensor<1x1x176xf32>
        %extracted_56 = tensor.extract %12[%c0, %c3, %c1_15] : tensor<1x9x4xf32>
        %49 = arith.mulf %extracted_56, %extracted_55 : f32
        %50 = arith.addf %41, %49 : f32
        %extracted_57 = tensor.extract %15#2[%c0, %c0_18, %46] : tensor<1x1x176xf32>
        %extracted_58 = tensor.extract %12[%c0, %c3, %c2_16] : tensor<1x9x4xf32>
        %51 = arith.mulf %extracted_58, %extracted_57 : f32
        %52 = arith.addf %43, %51 : f32
        %extracted_59 = tensor.extract %15#3[%c0, %c0_18, %46] : tensor<1x1x176xf32>
        %extracted_60 = tensor.extract %12[%c0, %c3, %c3_17] : tensor<1x9x4xf32>
        %53 = arith.mulf %extracted_60, %extracted_59 : f32
        %54 = arith.addf %45, %53 : f32
        %55 = arith.addi %18, %c17 : index
        %extracted_61 = tensor.extract %15#0[%c0, %c0_18, %55] : tensor<1x1x176xf32>
        %extracted_62 = tensor.extract %12[%c0, %c4, %c0_14] : tensor<1x9x4xf32>
        %56 = arith.mulf %extracted_62, %extracted_61 : f32
        %57 = arith.addf %48, %56 : f32
        %extracted_63 = tensor.extract %15#1[%c0, %c0_18, %55] : tensor<1x1x176xf32>
        %extracted_64 = tensor.extract %12[%c0, %c4, %c1_15] : tensor<1x9x4xf32>
        %58 = arith.mulf %extracted_64, %extracted_63 : f32
        %59 = arith.addf %50, %58 : f32
        %extracted_65 = tensor.extract %15#2[%c0, %c0_18, %55] : tensor<1x1x176xf32>
        %extracted_66 = tensor.extract %12[%c0, %c4, %c2_16] : tensor<1x9x4xf32>
        %60 = arith.mulf %extracted_66, %extracted_65 : f32
        %61 = arith.addf %52, %60 : f32
        %extracted_67 = tensor.extract %15#3[%c0, %c0_18, %55] : tensor<1x1x176xf32>
        %extracted_68 = tensor.extract %12[%c0, %c4, %c3_17] : tensor<1x9x4xf32>
        %62 = arith.mulf %extracted_68, %extracted_67 : f32
        %63 = arith.addf %54, %62 : f32
        %64 = arith.addi %18, %c18 : index
        %extracted_69 = tensor.extract %15#0[%c0, %c0_18, %64] : tensor<1x1x176xf32>
        %extracted_70 = tensor.extract %12[%c0, %c5, %c0_14] : tensor<1x9x4xf32>
        %65 = arith.mulf %extracted_70, %extracted_69 : f32
        %66 = arith.addf %57, %65 : f32
        %extracted_71 = tensor.extract %15#1[%c0, %c0_18, %64] : tensor<1x1x176xf32>
        %extracted_72 = tensor.extract %12[%c0, %c5, %c1_15] : tensor<1x9x4xf32>
        %67 = arith.mulf %extracted_72, %extracted_71 : f32
        %68 = arith.addf %59, %67 : f32
        %extracted_73 = tensor.extract %15#2[%c0, %c0_18, %64] : tensor<1x1x176xf32>
        %extracted_74 = tensor.extract %12[%c0, %c5, %c2_16] : tensor<1x9x4xf32>
        %69 = arith.mulf %extracted_74, %extracted_73 : f32
        %70 = arith.addf %61, %69 : f32
        %extracted_75 = tensor.extract %15#3[%c0, %c0_18, %64] : tensor<1x1x176xf32>
        %extracted_76 = tensor.extract %12[%c0, %c5, %c3_17] : tensor<1x9x4xf32>
        %71 = arith.mulf %extracted_76, %extracted_75 : f32
        %72 = arith.addf %63, %71 : f32
        %73 = arith.addi %18, %c32 : index
        %extracted_77 = tensor.extract %15#0[%c0, %c0_18, %73] : tensor<1x1x176xf32>
        %extracted_78 = tensor.extract %12[%c0, %c6, %c0_14] : tensor<1x9x4xf32>
        %74 = arith.mulf %extracted_78, %extracted_77 : f32
        %75 = arith.addf %66, %74 : f32
        %extracted_79 = tensor.extract %15#1[%c0, %c0_18, %73] : tensor<1x1x176xf32>
        %extracted_80 = tensor.extract %12[%c0, %c6, %c1_15] : tensor<1x9x4xf32>
        %76 = arith.mulf %extracted_80, %extracted_79 : f32
        %77 = arith.addf %68, %76 : f32
        %extracted_81 = tensor.extract %15#2[%c0, %c0_18, %73] : tensor<1x1x176xf32>
        %extracted_82 = tensor.extract %12[%c0, %c6, %c2_16] : tensor<1x9x4xf32>
        %78 = arith.mulf %extracted_82, %extracted_81 : f32
        %79 = arith.addf %70, %78 : f32
        %extracted_83 = tensor.extract %15#3[%c0, %c0_18, %73] : tensor<1x1x176xf32>
        %extracted_84 = tensor.extract %12[%c0, %c6, %c3_17] : tensor<1x9x4xf32>
        %80 = arith.mulf %extracted_84, %extracted_83 : f32
        %81 = arith.addf %72, %80 : f32
        %82 = arith.addi %18, %c33 : index
        %extracted_85 = tensor.extract %15#0[%c0, %c0_18, %82] : tensor<1x1x176xf32>
        %extracted_86 = tensor.extract %12[%c0, %c7, %c0_14] : tensor<1x9x4xf32>
        %83 = arith.mulf %extracted_86, %extracted_85 : f32
        %84 = arith.addf %75, %83 : f32
        %extracted_87 = tensor.extract %15#1[%c0, %c0_18, %82] : tensor<1x1x176xf32>
        %extracted_88 = tensor.extract %12[%c0, %c7, %c1_15] : tensor<1x9x4xf32>
        %85 = arith.mulf %extracted_88, %extracted_87 : f32
        %86 = arith.addf %77, %85 : f32
        %extracted_89 = tensor.extract %15#2[%c0, %c0_18, %82] : tensor<1x1x176xf32>
        %extracted_90 = tensor.extract %12[%c0, %c7, %c2_16] : tensor<1x9x4xf32>
        %87 = arith.mulf %extracted_90, %extracted_89 : f32
        %88 = arith.addf %79, %87 : f32
        %extracted_91 = tensor.extract %15#3[%c0, %c0_18, %82] : tensor<1x1x176xf32>
        %extracted_92 = tensor.extract %12[%c0, %c7, %c3_17] : tensor<1x9x4xf32>
        %89 = arith.mulf %extracted_92, %extracted_91 : f32
        %90 = arith.addf %81, %89 : f32
        %91 = arith.addi %18, %c34 : index
        %extracted_93 = tensor.extract %15#0[%c0, %c0_18, %91] : tensor<1x1x176xf32>
        %extracted_94 = tensor.extract %12[%c0, %c8, %c0_14] : tensor<1x9x4xf32>
        %92 = arith.mulf %extracted_94, %extracted_93 : f32
        %93 = arith.addf %84, %92 : f32
        %extracted_95 = tensor.extract %15#1[%c0, %c0_18, %91] : tensor<1x1x176xf32>
        %extracted_96 = tensor.extract %12[%c0, %c8, %c1_15] : tensor<1x9x4xf32>
        %94 = arith.mulf %extracted_96, %extracted_95 : f32
        %95 = arith.addf %86, %94 : f32
        %extracted_97 = tensor.extract %15#2[%c0, %c0_18, %91] : tensor<1x1x176xf32>
        %extracted_98 = tensor.extract %12[%c0, %c8, %c2_16] : tensor<1x9x4xf32>
        %96 = arith.mulf %extracted_98, %extracted_97 : f32
        %97 = arith.addf %88, %96 : f32
        %extracted_99 = tensor.extract %15#3[%c0, %c0_18, %91] : tensor<1x1x176xf32>
        %extracted_100 = tensor.extract %12[%c0, %c8, %c3_17] : tensor<1x9x4xf32>
        %98 = arith.mulf %extracted_100, %extracted_99 : f32
        %99 = arith.addf %90, %98 : f32
        linalg.yield %93, %95, %97, %99 : f32, f32, f32, f32
      } -> (tensor<1x128xf32>, tensor<1x128xf32>, tensor<1x128xf32>, tensor<1x128xf32>)
      iree_tensor_ext.dispatch.tensor.store %17#0, %arg8, offsets = [%workgroup_id_0, 0, %6], sizes = [1, 1, 128], strides = [1, 1, 1] : tensor<1x128xf32> -> !iree_tensor_ext.dispatch.tensor<writeonly:tensor<2x4x128xf32>>
      iree_tensor_ext.dispatch.tensor.store %17#1, %arg8, offsets = [%workgroup_id_0, 1, %6], sizes = [1, 1, 128], strides = [1, 1, 1] : tensor<1x128xf32> -> !iree_tensor_ext.dispatch.tensor<writeonly:tensor<2x4x128xf32>>
      iree_tensor_ext.dispatch.tensor.store %17#2, %arg8, offsets = [%workgroup_id_0, 2, %6], sizes = [1, 1, 128], strides = [1, 1, 1] : tensor<1x128xf32> -> !iree_tensor_ext.dispatch.tensor<writeonly:tensor<2x4x128xf32>>
      iree_tensor_ext.dispatch.tensor.store %17#3, %arg8, offsets = [%workgroup_id_0, 3, %6], sizes = [1, 1, 128], strides = [1, 1, 1] : tensor<1x128xf32> -> !iree_tensor_ext.dispatch.tensor<writeonly:tensor<2x4x128xf32>>
      flow.return
    } count(%arg1: index, %arg2: index) -> (index, index, index) {
      %c1_11 = arith.constant 1 : index
      flow.return %arg1, %arg2, %c1_11 : index, index, index
    }
    %collapsed_8 = tensor.collapse_shape %3 [[0, 1], [2]] : tensor<2x4x128xf32> into tensor<8x128xf32>
    %expanded_9 = tensor.expand_shape %collapsed_8 [[0], [1, 2]] output_shape [8, 8, 16] : tensor<8x128xf32> into tensor<8x8x16xf32>
    %extracted_slice = tensor.extract_slice %expanded_9[0, 0, 0] [8, 8, 14] [1, 1, 1] : tensor<8x8x16xf32> to tensor<8x8x14xf32>
    %expanded_10 = tensor.expand_shape %extracted_slice [[0, 1], [2], [3]] output_shape [1, 8, 8, 14] : tensor<8x8x14xf32> into tensor<1x8x8x14xf32>
    %4 = tensor.empty() : tensor<1x8x14x8xf32>
    %5 = linalg.generic {indexing_maps = [#map5, #map1], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%expanded_10 : tensor<1x8x8x14xf32>) outs(%4 : tensor<1x8x14x8xf32>) {
    ^bb0(%in: f32, %out: f32):
      linalg.yield %in : f32
    } -> tensor<1x8x14x8xf32>
    util.return %5 : tensor<1x8x14x8xf32>
  }
}
