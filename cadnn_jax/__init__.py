"""cadnn_jax: ADMM pruning and quantization for JAX/Flax, as optax transforms.

    tx = optax.chain(cadnn_jax.admm_prune(params, constraints), optax.adam(1e-3))

Then ``hard_prune`` and ``masked_retrain`` (``quantized_retrain`` for quantized layers) make
the result exactly feasible.
"""

from cadnn_jax._admm import ADMMState as ADMMState
from cadnn_jax._admm import admm as admm
from cadnn_jax._admm import admm_prune as admm_prune
from cadnn_jax._admm import admm_quantize as admm_quantize
from cadnn_jax._admm import admm_residuals as admm_residuals
from cadnn_jax._admm import find_admm_state as find_admm_state
from cadnn_jax._allocation import allocate as allocate
from cadnn_jax._allocation import global_magnitude_rates as global_magnitude_rates
from cadnn_jax._allocation import lamp_rates as lamp_rates
from cadnn_jax._checkpoint import load_model as load_model
from cadnn_jax._checkpoint import save_model as save_model
from cadnn_jax._fashion_mnist import load_fashion_mnist as load_fashion_mnist
from cadnn_jax._fashion_mnist import train_val_split as train_val_split
from cadnn_jax._gradual import GradualState as GradualState
from cadnn_jax._gradual import cubic_sparsity as cubic_sparsity
from cadnn_jax._gradual import gradual_magnitude_prune as gradual_magnitude_prune
from cadnn_jax._levels import best_scale as best_scale
from cadnn_jax._levels import power_of_two_levels as power_of_two_levels
from cadnn_jax._levels import projection_levels as projection_levels
from cadnn_jax._levels import projection_power_of_two_levels as projection_power_of_two_levels
from cadnn_jax._levels import projection_uniform_levels as projection_uniform_levels
from cadnn_jax._levels import uniform_levels as uniform_levels
from cadnn_jax._masking import hard_prune as hard_prune
from cadnn_jax._masking import keep_masked as keep_masked
from cadnn_jax._masking import mask_gradients as mask_gradients
from cadnn_jax._masking import masked_retrain as masked_retrain
from cadnn_jax._patterns import candidate_patterns as candidate_patterns
from cadnn_jax._patterns import select_patterns as select_patterns
from cadnn_jax._projections import projection_balanced_rows as projection_balanced_rows
from cadnn_jax._projections import projection_blocks as projection_blocks
from cadnn_jax._projections import projection_filters as projection_filters
from cadnn_jax._projections import projection_input_channels as projection_input_channels
from cadnn_jax._projections import projection_n_of_m as projection_n_of_m
from cadnn_jax._projections import projection_patterns as projection_patterns
from cadnn_jax._projections import projection_topk as projection_topk
from cadnn_jax._quantized import QuantizedRetrainState as QuantizedRetrainState
from cadnn_jax._quantized import quantized_retrain as quantized_retrain
from cadnn_jax._regrow import RegrowState as RegrowState
from cadnn_jax._regrow import regrow_fraction as regrow_fraction
from cadnn_jax._regrow import regrow_retrain as regrow_retrain
from cadnn_jax._regrow import regrown_masks as regrown_masks
from cadnn_jax._specs import BalancedRows as BalancedRows
from cadnn_jax._specs import Blocks as Blocks
from cadnn_jax._specs import Constraint as Constraint
from cadnn_jax._specs import Filters as Filters
from cadnn_jax._specs import GlobalUnstructured as GlobalUnstructured
from cadnn_jax._specs import InputChannels as InputChannels
from cadnn_jax._specs import Joint as Joint
from cadnn_jax._specs import NOfM as NOfM
from cadnn_jax._specs import Patterns as Patterns
from cadnn_jax._specs import PowerOfTwoLevels as PowerOfTwoLevels
from cadnn_jax._specs import UniformLevels as UniformLevels
from cadnn_jax._specs import Unstructured as Unstructured
from cadnn_jax._storage import LayerStorage as LayerStorage
from cadnn_jax._storage import StorageReport as StorageReport
from cadnn_jax._storage import position_bits_bound as position_bits_bound
from cadnn_jax._storage import storage_report as storage_report
from cadnn_jax._train import TrainResult as TrainResult
from cadnn_jax._train import evaluate as evaluate
from cadnn_jax._train import train as train

__all__ = [
    "ADMMState",
    "BalancedRows",
    "Blocks",
    "Constraint",
    "Filters",
    "GlobalUnstructured",
    "GradualState",
    "InputChannels",
    "Joint",
    "LayerStorage",
    "NOfM",
    "Patterns",
    "PowerOfTwoLevels",
    "QuantizedRetrainState",
    "RegrowState",
    "StorageReport",
    "TrainResult",
    "UniformLevels",
    "Unstructured",
    "admm",
    "admm_prune",
    "admm_quantize",
    "admm_residuals",
    "allocate",
    "best_scale",
    "candidate_patterns",
    "cubic_sparsity",
    "evaluate",
    "find_admm_state",
    "global_magnitude_rates",
    "gradual_magnitude_prune",
    "hard_prune",
    "keep_masked",
    "lamp_rates",
    "load_fashion_mnist",
    "load_model",
    "mask_gradients",
    "masked_retrain",
    "position_bits_bound",
    "power_of_two_levels",
    "projection_balanced_rows",
    "projection_blocks",
    "projection_filters",
    "projection_input_channels",
    "projection_levels",
    "projection_n_of_m",
    "projection_patterns",
    "projection_power_of_two_levels",
    "projection_topk",
    "projection_uniform_levels",
    "quantized_retrain",
    "regrow_fraction",
    "regrow_retrain",
    "regrown_masks",
    "save_model",
    "select_patterns",
    "storage_report",
    "train",
    "train_val_split",
    "uniform_levels",
]
