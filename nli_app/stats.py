"""Mean +- standard deviation over trials: the one definition the large-batch CLI, its JSON and the TensorBoard
plugin's table share (Keskar et al. report Tables 2-4 as mean +- std over trials).

The sample standard deviation (ddof = 1, n - 1 in the denominator) is the unbiased estimate of the variance's square
root for trials drawn from a distribution, which is what "mean +- std over N trials" conventionally means; the
population std (ddof = 0) understates the spread of 3-5 trials by a factor sqrt((n - 1) / n) (0.82 for n = 3).
"""
import math

STD_LABEL = "sample std"


def mean_std(values):
    """(mean, sample standard deviation with ddof = 1, count); the std of a single value is 0."""
    values = [float(v) for v in values]
    if not values:
        raise ValueError("mean_std needs at least one value")
    n = len(values)
    mean = math.fsum(values) / n
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    return mean, std, n
