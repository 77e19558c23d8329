"""Metric 2.1 of Keskar et al. (ICLR 2017), the sharpness of a minimiser, and direct curvature measures.

``box_sharpness`` works on any ``fun(x) -> (f, grad)`` over float64 numpy vectors (numpy + scipy only);
``model_sharpness`` builds that function for a Keras model and a dataset (the TensorFlow gradient code is isolated in
``tf_objective``). ``curvature`` (Hessian lambda_max by Lanczos, trace by Hutchinson) and ``landscape`` (Li et al.'s
filter-normalised 2-D loss surface) measure the same minimiser in other ways.
"""
from nli_app.sharpness.box import (METHODS, SharpnessResult, box_bounds, box_coordinates, box_sharpness,
                                   linear_sharpness, linear_vertex, random_subspace)
from nli_app.sharpness.curvature import Curvature, hutchinson_trace, model_curvature, top_eigenvalue
from nli_app.sharpness.landscape import filter_normalized_direction, model_loss_surface
from nli_app.sharpness.model import model_sharpness, sharpness_objective

__all__ = ["METHODS", "Curvature", "SharpnessResult", "box_bounds", "box_coordinates", "box_sharpness",
           "filter_normalized_direction", "hutchinson_trace", "linear_sharpness", "linear_vertex", "model_curvature",
           "model_loss_surface", "model_sharpness", "random_subspace", "sharpness_objective", "top_eigenvalue"]
