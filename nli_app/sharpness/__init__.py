"""Metric 2.1 of Keskar et al. (ICLR 2017): the sharpness of a minimiser, for flat functions and Keras models.

``box_sharpness`` works on any ``fun(x) -> (f, grad)`` over float64 numpy vectors (numpy + scipy only);
``model_sharpness`` builds that function for a Keras model and a dataset (the TensorFlow gradient code is isolated in
``tf_objective``).
"""
from nli_app.sharpness.box import METHODS, SharpnessResult, box_bounds, box_sharpness, random_subspace
from nli_app.sharpness.model import model_sharpness

__all__ = ["METHODS", "SharpnessResult", "box_bounds", "box_sharpness", "model_sharpness", "random_subspace"]
