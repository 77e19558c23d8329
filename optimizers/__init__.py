"""The gradient-descent optimizers of Ruder's survey (arXiv:1609.04747) as `keras.optimizers.Optimizer` classes.

`get("nadam", learning_rate=1e-3)` builds one by name (case-insensitive) for flags; `GradientNoise` wraps any of
them with annealed gradient noise; `optimizers.schedules` holds the annealing schedules. How sparse
(`tf.IndexedSlices`) gradients are treated is defined in `optimizers.sparse`.
"""
from optimizers import schedules  # noqa: F401 (optimizers.schedules.StepDecay etc.)
from optimizers.adadelta import Adadelta
from optimizers.adagrad import Adagrad
from optimizers.adam import Adam
from optimizers.adamax import AdaMax
from optimizers.adamw import AdamW
from optimizers.amsgrad import AMSGrad
from optimizers.gradient_noise import GradientNoise
from optimizers.momentum import Momentum
from optimizers.nadam import Nadam
from optimizers.nesterov import NesterovMomentum
from optimizers.registry import OPTIMIZERS, get
from optimizers.rmsprop import RMSprop
from optimizers.sgd import SGD

__all__ = ["get", "OPTIMIZERS", "GradientNoise"] + [cls.__name__ for cls in OPTIMIZERS.values()]
