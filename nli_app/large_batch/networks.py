"""The six networks of Keskar et al. (ICLR 2017), Table 1, as Keras models (keras layers only, any backend).

| name | data | network |
|---|---|---|
| F1 | MNIST | 784 -> 5 x [Dense 512, BatchNorm, ReLU] -> 10 softmax |
| F2 | TIMIT | 360 -> 7 x [Dense 512, BatchNorm, ReLU] -> 1973 softmax |
| C1 / C3 | CIFAR-10 / 100 | 2 x [Conv 64 5x5, BN, ReLU, MaxPool 3x3 s2] -> Dense 384, 192 (BN, ReLU, Dropout .5) |
| C2 / C4 | CIFAR-10 / 100 | VGG: 2x64, 2x128, 3x256, 3x512, 3x512 conv 3x3 (BN, ReLU), MaxPool 2 each -> Dense 512 |

(every network ends in a softmax over the classes).

Every builder takes ``input_shape`` and ``num_classes`` so the same architecture runs on other shapes of data.
Outputs are class probabilities.
"""
import keras
from keras import layers


def _dense_bn_relu(h, width, suffix):
    h = layers.Dense(width, name=f"dense_{suffix}")(h)
    h = layers.BatchNormalization(name=f"bn_{suffix}")(h)
    return layers.ReLU()(h)


def _conv_bn_relu(h, filters, kernel, suffix):
    h = layers.Conv2D(filters, kernel, padding="same", name=f"conv_{suffix}")(h)
    h = layers.BatchNormalization(name=f"conv_bn_{suffix}")(h)
    return layers.ReLU()(h)


def _dense_stack(name, input_shape, num_classes, depth, width=512):
    inputs = keras.Input(tuple(input_shape), name="features")
    h = layers.Flatten()(inputs) if len(input_shape) > 1 else inputs
    for i in range(depth):
        h = _dense_bn_relu(h, width, i)
    outputs = layers.Dense(num_classes, activation="softmax", name="softmax")(h)
    return keras.Model(inputs, outputs, name=name)


def build_f1(input_shape=(784,), num_classes=10):
    """F1 (MNIST): 5 hidden Dense 512 + BN + ReLU layers."""
    return _dense_stack("F1", input_shape, num_classes, depth=5)


def build_f2(input_shape=(360,), num_classes=1973):
    """F2 (TIMIT frames): 7 hidden Dense 512 + BN + ReLU layers, 1973 senone classes."""
    return _dense_stack("F2", input_shape, num_classes, depth=7)


def _shallow_conv(name, input_shape, num_classes):
    inputs = keras.Input(tuple(input_shape), name="image")
    h = inputs
    for i in range(2):
        h = _conv_bn_relu(h, 64, 5, i)
        h = layers.MaxPooling2D(3, strides=2, padding="same")(h)
    h = layers.Flatten()(h)
    for width in (384, 192):
        h = layers.Dropout(0.5)(_dense_bn_relu(h, width, width))
    outputs = layers.Dense(num_classes, activation="softmax", name="softmax")(h)
    return keras.Model(inputs, outputs, name=name)


def build_c1(input_shape=(32, 32, 3), num_classes=10):
    """C1 (CIFAR-10): the shallow convolutional network."""
    return _shallow_conv("C1", input_shape, num_classes)


def build_c3(input_shape=(32, 32, 3), num_classes=100):
    """C3 (CIFAR-100): C1 with 100 classes."""
    return _shallow_conv("C3", input_shape, num_classes)


VGG_STACKS = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))


def _vgg(name, input_shape, num_classes):
    """VGG-16 for CIFAR with the usual dropout (0.3 after the first conv, 0.4 after every other conv but the last
    of each stack, 0.5 before and after the Dense 512)."""
    inputs = keras.Input(tuple(input_shape), name="image")
    h = inputs
    for s, stack in enumerate(VGG_STACKS):
        for i, filters in enumerate(stack):
            h = _conv_bn_relu(h, filters, 3, f"{s}_{i}")
            if i < len(stack) - 1:
                h = layers.Dropout(0.3 if s == 0 else 0.4)(h)
        h = layers.MaxPooling2D(2, padding="same")(h)
    h = layers.Flatten()(h)
    h = layers.Dropout(0.5)(h)
    h = layers.Dropout(0.5)(_dense_bn_relu(h, 512, 512))
    outputs = layers.Dense(num_classes, activation="softmax", name="softmax")(h)
    return keras.Model(inputs, outputs, name=name)


def build_c2(input_shape=(32, 32, 3), num_classes=10):
    """C2 (CIFAR-10): VGG-16-style network."""
    return _vgg("C2", input_shape, num_classes)


def build_c4(input_shape=(32, 32, 3), num_classes=100):
    """C4 (CIFAR-100): C2 with 100 classes."""
    return _vgg("C4", input_shape, num_classes)


NETWORKS = {"F1": build_f1, "F2": build_f2, "C1": build_c1, "C2": build_c2, "C3": build_c3, "C4": build_c4}


def build(name, input_shape=None, num_classes=None):
    """Build network ``name`` (F1, F2, C1-C4); None arguments keep the paper's shapes."""
    key = str(name).upper()
    if key not in NETWORKS:
        raise ValueError(f"unknown network {name!r}; choose one of {sorted(NETWORKS)}")
    kwargs = {}
    if input_shape is not None:
        kwargs["input_shape"] = tuple(input_shape)
    if num_classes is not None:
        kwargs["num_classes"] = int(num_classes)
    return NETWORKS[key](**kwargs)
