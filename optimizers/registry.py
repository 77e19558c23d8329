"""The survey's optimizers by name: ``OPTIMIZERS`` and ``get(name, **kwargs)`` (for flags and `GradientNoise`)."""
import keras

from optimizers.adadelta import Adadelta
from optimizers.adagrad import Adagrad
from optimizers.adam import Adam
from optimizers.adamax import AdaMax
from optimizers.adamw import AdamW
from optimizers.amsgrad import AMSGrad
from optimizers.momentum import Momentum
from optimizers.nadam import Nadam
from optimizers.nesterov import NesterovMomentum
from optimizers.rmsprop import RMSprop
from optimizers.sgd import SGD

OPTIMIZERS = {
    "sgd": SGD,
    "momentum": Momentum,
    "nesterov": NesterovMomentum,
    "adagrad": Adagrad,
    "adadelta": Adadelta,
    "rmsprop": RMSprop,
    "adam": Adam,
    "adamax": AdaMax,
    "nadam": Nadam,
    "amsgrad": AMSGrad,
    "adamw": AdamW,
}


def get(name_or_instance, **kwargs):
    """The optimizer called `name_or_instance` built with `kwargs`, or the instance itself (then no kwargs).

    Raises:
        ValueError: for an unknown name (the message lists the known ones), kwargs given with an instance, or a
            constructor argument the optimizer does not take (Keras' base class names it).
    """
    if isinstance(name_or_instance, keras.optimizers.Optimizer):
        if kwargs:
            raise ValueError(f"optimizer arguments {sorted(kwargs)} given with an optimizer instance; "
                             "pass a name to build one")
        return name_or_instance
    if not isinstance(name_or_instance, str):
        raise ValueError(f"optimizer must be a name or a keras.optimizers.Optimizer, got {name_or_instance!r}")
    key = name_or_instance.strip().lower()
    if key not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name_or_instance!r}; known: {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[key](**kwargs)
