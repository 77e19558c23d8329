"""AdamW: Adam with decoupled weight decay (Loshchilov & Hutter, 2019)."""
import keras

from optimizers.adam import Adam


@keras.saving.register_keras_serializable(package="optimizers")
class AdamW(Adam):
    """Adam (Ruder eq. 19-21) with weight decay decoupled from the gradient.

        theta <- theta - eta * lambda * theta_{t-1}                    (Loshchilov & Hutter, Algorithm 2, line 12)
        theta <- theta - eta / (sqrt(v_hat_t) + epsilon) * m_hat_t     (eq. 21; g_t excludes the decay term)

    The decay never enters m or v: that is the difference from adding lambda/2 * ||theta||^2 to the loss. It is
    Keras' base-class `weight_decay` (applied before the update, scaled by the current eta as in PyTorch's and
    Keras' AdamW: with eta = alpha * eta_t, Loshchilov & Hutter's lambda is `weight_decay * alpha`).
    Variables excluded with `exclude_from_weight_decay` are not decayed. Beyond the survey's original list.

    Args:
        learning_rate, beta_1, beta_2, epsilon: as `optimizers.Adam`.
        weight_decay: lambda (default 0.004, Keras' AdamW default); must be a positive float.
        **kwargs: other Keras base optimizer arguments.
    """

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-8, name=None,
                 **kwargs):
        if weight_decay is None or weight_decay <= 0:
            raise ValueError(f"AdamW needs a positive weight_decay (lambda), got {weight_decay}; use Adam without it")
        super().__init__(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, name=name,
                         weight_decay=weight_decay, **kwargs)
