"""The two test surfaces of the survey's optimizer visualisation (Ruder, 2016, section 4.9, Figure 4).

Plain numpy: value and analytic gradient of each surface, for `optimizer_paths` and its tests.
"""
import dataclasses
from typing import Callable

import numpy as np


def beale(x, y):
    """Beale's function (1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2; minimum 0 at (3, 0.5)."""
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2


def beale_gradient(x, y):
    a, b, c = 1.5 - x + x * y, 2.25 - x + x * y**2, 2.625 - x + x * y**3
    dx = 2 * a * (y - 1) + 2 * b * (y**2 - 1) + 2 * c * (y**3 - 1)
    dy = 2 * a * x + 2 * b * 2 * x * y + 2 * c * 3 * x * y**2
    return np.array([dx, dy])


def saddle(x, y):
    """The saddle z = x^2 - y^2: a minimum along x, a maximum along y, a saddle point at the origin."""
    return x**2 - y**2


def saddle_gradient(x, y):
    return np.array([2 * x, -2 * y])


@dataclasses.dataclass(frozen=True)
class Problem:
    """A surface, where the paths start, the plotted window, and when a path counts as arrived.

    A path has arrived once its loss is at most `goal_loss`: within a tolerance of Beale's minimum, or far enough
    down the saddle's negative slope (z <= -1, i.e. |y| >= 1 near x = 0) to have escaped the saddle point.
    """

    name: str
    value: Callable
    gradient: Callable
    start: tuple
    xlim: tuple
    ylim: tuple
    goal_loss: float
    minimum: tuple | None = None


BEALE = Problem("beale", beale, beale_gradient, start=(1.0, 1.4), xlim=(-0.5, 4.0), ylim=(-1.5, 2.0),
                goal_loss=1e-4, minimum=(3.0, 0.5))
SADDLE = Problem("saddle", saddle, saddle_gradient, start=(1.0, 1e-4), xlim=(-1.5, 1.5), ylim=(-1.5, 1.5),
                 goal_loss=-1.0)
PROBLEMS = {p.name: p for p in (BEALE, SADDLE)}
