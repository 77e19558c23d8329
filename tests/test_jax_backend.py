"""Backend-agnostic, tested: the survey optimizers, ESIM and the tree-LSTM model under Keras' JAX backend (CPU).

Runs under `make test-jax` (KERAS_BACKEND=jax, the `jax` extra installed); the default suite (TensorFlow backend)
skips this file. Optimizers: every rule, step by step, against the numpy transcription of the survey's equations in
`optimizer_reference.py`, in an eager loop (`jax.grad` + `optimizer.apply`) and through `model.fit` (jit-compiled
`stateless_apply`). Models: the TensorFlow backend builds tiny ESIM / tree models in a child process
(`backend_reference.py`) and saves weights, inputs, probabilities and gradients; this process builds the same
architectures, loads those weights and must give the same numbers to float32 tolerance.
"""
import os
import subprocess
import sys

import numpy as np
import pytest

import keras

if keras.backend.backend() != "jax":
    pytest.skip("JAX-backend tests: run `make test-jax` (KERAS_BACKEND=jax with the `jax` extra)",
                allow_module_level=True)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

import backend_reference  # noqa: E402
import optimizers  # noqa: E402
from optimizer_problem import BATCH, HPARAMS, NAMES, OUT, SEQ, batches, build_model  # noqa: E402
from optimizer_reference import Reference  # noqa: E402

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
STEPS = 12


def weights(model):
    return [np.asarray(v.numpy()) for v in model.trainable_variables]


def mse_gradients(model, ids, y):
    """d/dtheta mean((model(ids) - y)^2) by `jax.grad` over the model's stateless call."""
    non_trainable = [v.value for v in model.non_trainable_variables]

    def loss(trainable):
        out, _ = model.stateless_call(trainable, non_trainable, ids, training=True)
        return jnp.mean(jnp.square(out - y))

    return jax.grad(loss)([v.value for v in model.trainable_variables])


def assert_close(actual, expected, what, rtol=2e-5, atol=2e-6):
    for i, (a, e) in enumerate(zip(actual, expected)):
        np.testing.assert_allclose(a, e, rtol=rtol, atol=atol, err_msg=f"variable {i} {what}")


def run_eager(name, seed=0):
    """The custom loop: returns the final weights after checking every step against the survey's equations."""
    model = build_model()
    reference = Reference(name, weights(model), **HPARAMS[name])
    optimizer = optimizers.get(name, **HPARAMS[name])
    ids, y = batches(STEPS, seed)
    for t in range(STEPS):
        grads = mse_gradients(model, ids[t], y[t])
        optimizer.apply(grads, model.trainable_variables)
        reference.step([np.asarray(g, np.float64) for g in grads])
        assert_close(weights(model), reference.values(), f"after step {t + 1}")
    assert int(optimizer.iterations.numpy()) == STEPS
    return weights(model)


@pytest.mark.parametrize("name", NAMES)
def test_optimizer_steps_match_survey_equations_eagerly_and_under_jit_model_fit(name):
    expected = run_eager(name, seed=2)
    keras.backend.clear_session()
    model = build_model()
    model.compile(optimizer=optimizers.get(name, **HPARAMS[name]), loss="mse", jit_compile=True)
    ids, y = batches(STEPS, seed=2)
    model.fit(ids.reshape(-1, SEQ), y.reshape(-1, OUT), batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    assert int(model.optimizer.iterations.numpy()) == STEPS
    assert_close(weights(model), expected, f"after model.fit's {STEPS} steps", rtol=1e-4, atol=1e-5)


@pytest.mark.filterwarnings("ignore:Explicitly requested dtype int64")  # the step counter: int32 without x64
def test_gradient_noise_has_eq_35_variance_and_is_the_same_under_jit():
    """Zero gradients through GradientNoise(SGD(1)): the update is -noise, N(0, eta / (1 + t)^gamma), eq. 34-35."""
    eta, gamma, n = 0.3, 0.55, 40_000

    def make():
        return optimizers.GradientNoise(optimizers.SGD(learning_rate=1.0), eta=eta, gamma=gamma, seed=5)

    var = keras.Variable(np.zeros(n, "float32"))
    optimizer = make()
    eager_steps = []
    for t in range(3):
        before = var.numpy().copy()
        optimizer.apply([jnp.zeros(n, "float32")], [var])
        noise = before - var.numpy()
        sigma = np.sqrt(eta / (1 + t) ** gamma)
        assert abs(noise.mean()) < 4 * sigma / np.sqrt(n)
        assert noise.std() == pytest.approx(sigma, rel=0.02), f"step {t}"
        eager_steps.append(noise)
    assert not np.allclose(eager_steps[0], eager_steps[1]), "each step draws a new sample"

    jit_var = keras.Variable(np.zeros(n, "float32"))
    jitted = make()
    jitted.build([jit_var])
    apply = jax.jit(jitted.stateless_apply)
    values, state = [jit_var.value], [v.value for v in jitted.variables]
    for t in range(3):
        new_values, state = apply(state, [jnp.zeros(n, "float32")], values)
        np.testing.assert_allclose(np.asarray(values[0]) - np.asarray(new_values[0]), eager_steps[t], rtol=0, atol=1e-6,
                                   err_msg=f"jit step {t}")  # the same sample; the variable rounds differently
        values = new_values


@pytest.fixture(scope="module")
def tensorflow_reference(tmp_path_factory):
    """The TensorFlow backend's weights, inputs, probabilities and gradients (`backend_reference.py`)."""
    out = tmp_path_factory.mktemp("tf_reference") / "reference.npz"
    env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    result = subprocess.run([sys.executable, os.path.join(TESTS_DIR, "backend_reference.py"), str(out)], env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    with np.load(out) as arrays:
        return dict(arrays)


@pytest.mark.parametrize("kind", backend_reference.KINDS)
def test_model_forward_pass_and_gradients_match_the_tensorflow_backend(kind, tensorflow_reference):
    ref = {k.split("/", 1)[1]: v for k, v in tensorflow_reference.items() if k.startswith(kind + "/")}
    keras.utils.set_random_seed(11)  # another seed than the TensorFlow side: every weight must come from the file
    model = backend_reference.build(kind)
    tf_weights = [ref[f"w/{i}"] for i in range(len(model.weights))]
    assert not np.allclose(model.get_weights()[0], tf_weights[0])
    model.set_weights(tf_weights)
    x = {k[2:]: v for k, v in ref.items() if k.startswith("x/")}
    assert set(x) == {t.name for t in keras.tree.flatten(model.inputs)}

    non_trainable = [v.value for v in model.non_trainable_variables]

    def loss(trainable):
        p, _ = model.stateless_call(trainable, non_trainable, x, training=False)
        return jnp.sum(keras.losses.sparse_categorical_crossentropy(backend_reference.LABELS, p)), p

    # One compiled forward + backward pass (eager op-by-op dispatch of the tree-LSTM's loops is far slower).
    (value, probabilities), grads = jax.jit(jax.value_and_grad(loss, has_aux=True))(
        [v.value for v in model.trainable_variables])
    np.testing.assert_allclose(np.asarray(probabilities), ref["probabilities"], rtol=1e-5, atol=1e-6)
    assert np.abs(ref["probabilities"] - 1 / 3).min() > 0.01, "probabilities too flat to tell the models apart"
    np.testing.assert_allclose(float(value), ref["loss"], rtol=1e-5)
    assert len(grads) == sum(k.startswith("g/") for k in ref)
    for i, g in enumerate(grads):
        np.testing.assert_allclose(np.asarray(g), ref[f"g/{i}"], rtol=1e-4, atol=1e-6, err_msg=f"gradient {i}")


def test_optimizers_and_models_do_not_load_tensorflow():
    """Under JAX, `import optimizers` and the model modules must not import TensorFlow (conftest has, so: a child)."""
    code = ("import sys, optimizers, nli_app.nli.models.esim, nli_app.nli.models.tree_model, nli_app.nli.models; "
            "print(sorted(m for m in ('tensorflow', 'tf_keras') if m in sys.modules))")
    env = dict(os.environ, KERAS_BACKEND="jax")
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"
