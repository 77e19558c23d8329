"""Keskar et al.'s experiments (each writes JSON, PNG and TensorBoard output) and their figures."""
