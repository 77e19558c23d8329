"""Experiment 7: remedies for the generalization gap of large-batch training (Section 4, Appendix E), each reported
with accuracy and sharpness next to the SB and LB baselines of seed 0:

* ``augmentation``: LB on randomly shifted (and, for 3-channel images, flipped) inputs (``augmentation``);
* ``conservative``: LB with the proximal term lambda/2 ||x - x_k||^2 and a few inner steps per batch
  (``conservative``);
* ``adversarial``: LB on clean + FGSM inputs (``adversarial``);
* ``dynamic_sampling``: the batch size grows during training (Byrd et al., 2012): stages of ``stage_epochs`` epochs,
  starting at the SB size and doubling up to the LB size; each stage warm-starts from the previous one's weights
  (the optimizer state restarts at every stage).
"""
import dataclasses
import functools

from nli_app.large_batch.adversarial import AdversarialTrainer
from nli_app.large_batch.conservative import ConservativeTrainer, repeating_batch_fn
from nli_app.large_batch.data.augmentation import augmenting_batch_fn, image_shape_of
from nli_app.large_batch.experiments import plots, tb
from nli_app.large_batch.experiments.sb_vs_lb import regime_runs
from nli_app.large_batch.io import atomic_json

REMEDIES = ("augmentation", "conservative", "adversarial", "dynamic_sampling")


@dataclasses.dataclass(frozen=True)
class RemedySettings:
    max_shift: int = 2
    proximal_lambda: float = 1e-3
    inner_steps: int = 3
    adversarial_epsilon: float = 0.02
    stage_epochs: int = 1


def _train(study, remedy, sb, lb, settings, seed):
    name = f"remedy_{remedy}_seed{seed}"
    if remedy == "augmentation":
        flip = image_shape_of(study.splits.input_shape)[-1] == 3
        return study.train(name, lb, seed=seed, batch_fn=augmenting_batch_fn(
            study.splits.input_shape, settings.max_shift, flip=flip, seed=seed))
    if remedy == "conservative":
        trainer_cls = functools.partial(ConservativeTrainer, proximal_lambda=settings.proximal_lambda,
                                        inner_steps=settings.inner_steps)
        return study.train(name, lb, seed=seed, trainer_cls=trainer_cls,
                           batch_fn=repeating_batch_fn(settings.inner_steps))
    if remedy == "adversarial":
        return study.train(name, lb, seed=seed, trainer_cls=functools.partial(
            AdversarialTrainer, epsilon=settings.adversarial_epsilon))
    if remedy == "dynamic_sampling":
        run, batch, weights, stage = None, sb, None, 0
        while True:
            run = study.train(f"{name}_stage{stage}_b{batch}", batch, seed=seed, initial_weights=weights,
                              epochs=settings.stage_epochs)
            if batch >= lb:
                return run
            weights, batch, stage = run.weights, min(2 * batch, lb), stage + 1
    raise ValueError(f"unknown remedy {remedy!r}; choose from {REMEDIES}")


def run(study, batch_sizes, remedies=REMEDIES, settings=RemedySettings(), seed=0):
    sb, lb = batch_sizes["SB"], batch_sizes["LB"]
    baselines = regime_runs(study, batch_sizes, trials=1)
    rows = {}
    for regime in ("SB", "LB"):
        rows[regime] = study.measure(baselines[regime][0])
    for remedy in remedies:
        rows[f"LB+{remedy}"] = study.measure(_train(study, remedy, sb, lb, settings, seed))
    for name, m in rows.items():
        with tb.writer(study.output_dir, "remedies", name.replace("+", "_")):
            tb.sharpness_records(m, step=0, regime=name, batch_size=m["batch_size"])
    as_stats = {name: {"test_accuracy": {"mean": m["test_accuracy"], "std": 0.0},
                       "sharpness": {"mean": study.primary_sharpness(m["sharpness"]), "std": 0.0}}
                for name, m in rows.items()}
    plots.regimes(as_stats, study.path("remedies.png"), title=f"{study.network}: remedies for LB")
    result = {"settings": dataclasses.asdict(settings), "rows": rows}
    atomic_json(study.path("remedies.json"), result)
    return result
