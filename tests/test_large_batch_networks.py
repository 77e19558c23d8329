"""The six networks of Keskar et al. Table 1: output shapes and parameter counts against hand-computed totals."""
import keras
import numpy as np
import pytest

from nli_app.large_batch import networks


def _dense_params(fan_in, units):
    return fan_in * units + units


def _bn_params(units):  # gamma, beta trainable; moving mean, variance not
    return 4 * units


def _dense_stack_params(inputs, depth, classes, width=512):
    total = _dense_params(inputs, width) + (depth - 1) * _dense_params(width, width)
    return total + depth * _bn_params(width) + _dense_params(width, classes)


def _shallow_conv_params(classes, channels=3):
    conv = (5 * 5 * channels * 64 + 64) + (5 * 5 * 64 * 64 + 64) + 2 * _bn_params(64)
    flat = 8 * 8 * 64  # 32 -> 16 -> 8 after two 3x3 stride-2 'same' pools
    return conv + _dense_params(flat, 384) + _bn_params(384) + _dense_params(384, 192) + _bn_params(192) + \
        _dense_params(192, classes)


def _vgg_params(classes, channels=3):
    total, fan_in = 0, channels
    for stack in networks.VGG_STACKS:
        for filters in stack:
            total += 3 * 3 * fan_in * filters + filters + _bn_params(filters)
            fan_in = filters
    return total + _dense_params(512, 512) + _bn_params(512) + _dense_params(512, classes)  # 32 / 2^5 = 1


@pytest.mark.parametrize("name, shape, classes, expected", [
    ("F1", (784,), 10, _dense_stack_params(784, 5, 10)),
    ("F2", (360,), 1973, _dense_stack_params(360, 7, 1973)),
    ("C1", (32, 32, 3), 10, _shallow_conv_params(10)),
    ("C3", (32, 32, 3), 100, _shallow_conv_params(100)),
    ("C2", (32, 32, 3), 10, _vgg_params(10)),
    ("C4", (32, 32, 3), 100, _vgg_params(100)),
])
def test_paper_shapes_and_parameter_counts(name, shape, classes, expected):
    model = networks.build(name)
    assert model.input_shape == (None, *shape) and model.output_shape == (None, classes)
    assert model.count_params() == expected
    if name in ("F1", "C1"):
        out = np.asarray(model(np.random.default_rng(0).random((3, *shape), dtype=np.float32), training=False))
        assert out.shape == (3, classes)
        np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)


def test_f1_layer_structure_and_custom_shapes():
    model = networks.build("f1", input_shape=(64,), num_classes=7)
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    bn = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert [d.units for d in dense] == [512] * 5 + [7] and len(bn) == 5
    assert model.count_params() == _dense_stack_params(64, 5, 7)
    c1 = networks.build("C1", input_shape=(16, 16, 1), num_classes=4)
    assert c1.output_shape == (None, 4)
    assert sum(isinstance(layer, keras.layers.Dropout) for layer in c1.layers) == 2


def test_vgg_dropout_placement():
    model = networks.build("C2")
    rates = [layer.rate for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    # stack 1: one 0.3; stacks 2-5: 1 + 2 + 2 + 2 dropouts of 0.4; two 0.5 around the Dense 512
    assert rates == [0.3] + [0.4] * 7 + [0.5, 0.5]


def test_unknown_network():
    with pytest.raises(ValueError, match="unknown network 'F9'"):
        networks.build("F9")
