"""TensorBoard dynamic plugin for sharpness, interpolation and batch-size sweeps."""
