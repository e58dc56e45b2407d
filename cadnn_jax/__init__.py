"""cadnn_jax."""
