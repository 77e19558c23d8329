"""The idealized performance model of Keskar et al. (ICLR 2017), Appendix C.

With I_s, I_l the iterations the small-batch (SB) and large-batch (LB) methods need to reach a comparable test
accuracy, B_s, B_l their batch sizes, P < B_l processors, f_s(P) the parallel efficiency of SB and f_l(P) that of LB
(1 in the paper: a large batch is assumed perfectly scalable), one iteration costs B / (P f(P)) time units and LB is
faster when

    I_l * B_l / (P f_l(P)) < I_s * B_s / (P f_s(P)),   i.e.   I_l / I_s < (B_s f_l(P)) / (B_l f_s(P)).

The paper's example: f_s(P) = 0.2 and B_s / B_l = 0.1 -> LB must converge in at most half as many iterations.
"""
import dataclasses


def _positive(name, value):
    if not value > 0:
        raise ValueError(f"{name} must be positive, got {value!r}")
    return float(value)


def _efficiency(name, value):
    if not 0 < value <= 1:
        raise ValueError(f"{name} (parallel efficiency) must be in (0, 1], got {value!r}")
    return float(value)


def iteration_time(batch_size, processors, efficiency=1.0):
    """Time of one iteration in units of one example's gradient on one processor: B / (P f(P))."""
    return _positive("batch_size", batch_size) / (_positive("processors", processors)
                                                   * _efficiency("efficiency", efficiency))


def max_iteration_ratio(small_batch, large_batch, sb_efficiency, lb_efficiency=1.0):
    """The largest I_l / I_s for which LB is faster: (B_s f_l) / (B_l f_s)."""
    return (_positive("small_batch", small_batch) * _efficiency("lb_efficiency", lb_efficiency)) / (
        _positive("large_batch", large_batch) * _efficiency("sb_efficiency", sb_efficiency))


@dataclasses.dataclass(frozen=True)
class Comparison:
    sb_time: float
    lb_time: float
    speedup: float          # sb_time / lb_time; > 1 means LB wins
    max_iteration_ratio: float
    lb_wins: bool


def compare(sb_iterations, lb_iterations, small_batch, large_batch, processors, sb_efficiency,
            lb_efficiency=1.0):
    """Total times of SB and LB under the model; requires P < B_l as the paper assumes."""
    if processors >= large_batch:
        raise ValueError(f"the model assumes processors < large_batch, got P={processors}, B_l={large_batch}")
    sb = _positive("sb_iterations", sb_iterations) * iteration_time(small_batch, processors, sb_efficiency)
    lb = _positive("lb_iterations", lb_iterations) * iteration_time(large_batch, processors, lb_efficiency)
    return Comparison(sb_time=sb, lb_time=lb, speedup=sb / lb, lb_wins=lb < sb,
                      max_iteration_ratio=max_iteration_ratio(small_batch, large_batch, sb_efficiency,
                                                              lb_efficiency))


def table(batch_ratios=(0.01, 0.05, 0.1, 0.5), sb_efficiencies=(0.1, 0.2, 0.5, 1.0)):
    """Rows {"batch_ratio": B_s/B_l, "sb_efficiency": f_s, "max_iteration_ratio": I_l/I_s bound} (f_l = 1)."""
    return [{"batch_ratio": r, "sb_efficiency": f, "max_iteration_ratio": max_iteration_ratio(r, 1.0, f)}
            for r in batch_ratios for f in sb_efficiencies]


def format_table(rows):
    """The table as aligned text: LB wins when I_l / I_s is below the bound."""
    lines = ["B_s/B_l  f_s(P)  max I_l/I_s (LB faster below)"]
    lines += [f"{row['batch_ratio']:7.3g}  {row['sb_efficiency']:6.3g}  {row['max_iteration_ratio']:.4g}"
              for row in rows]
    return "\n".join(lines)
