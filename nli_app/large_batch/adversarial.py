"""Adversarial training (Goodfellow et al., 2015), a remedy of Keskar et al. (Section 4): the training loss is

    alpha * L(x, y) + (1 - alpha) * L(x + eps * sign(grad_x L(x, y)), y)      (fast gradient sign method)

through a ``compute_loss`` override of the trainer; evaluation uses the clean loss.
"""
import tensorflow as tf

from nli_app.train.trainer import Trainer


class AdversarialTrainer(Trainer):
    """Trainer with FGSM adversarial examples in every training batch.

    Args (beyond ``Trainer``'s): ``epsilon``, the FGSM step; ``alpha``, the weight of the clean loss.
    """

    def __init__(self, *args, epsilon, alpha=0.5, **kwargs):
        super().__init__(*args, **kwargs)
        self.epsilon, self.alpha = epsilon, alpha

    def compute_loss(self, model, x, y, training):
        if not training:
            return super().compute_loss(model, x, y, training)
        if not isinstance(x, tf.Tensor) or not x.dtype.is_floating:
            raise ValueError("adversarial training needs a single floating-point input tensor")
        with tf.GradientTape() as tape:
            tape.watch(x)
            clean, y_pred = super().compute_loss(model, x, y, training)
        x_adv = x + self.epsilon * tf.sign(tf.stop_gradient(tape.gradient(clean, x)))
        adv, _ = super().compute_loss(model, x_adv, y, training)
        return self.alpha * clean + (1.0 - self.alpha) * adv, y_pred
