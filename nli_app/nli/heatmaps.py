"""Figure 3 style heat maps (Chen et al. 2017): attention weights between the words of a pair (eq. 12-13) and the
l2 norms of the composition BiLSTM's input gates per word, as PNG files and TensorBoard image summaries; plus the
confusion matrix. Inputs come from ``esim.explainer(model)``.
"""
import io
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from nli_app.nli.data import snli  # noqa: E402
from nli_app.nli.data import vocab as vocab_lib  # noqa: E402


def _with_markers(tokens):
    return [vocab_lib.BOS] + list(tokens) + [vocab_lib.EOS]


def attention_figure(premise_tokens, hypothesis_tokens, attention, title="premise-to-hypothesis attention"):
    """Rows: premise words (with _BOS_/_EOS_), columns: hypothesis words; ``attention`` [Lp, Lh] (eq. 12)."""
    rows, cols = _with_markers(premise_tokens), _with_markers(hypothesis_tokens)
    attention = np.asarray(attention)[:len(rows), :len(cols)]
    fig, ax = plt.subplots(figsize=(max(4.5, 1.5 + 0.35 * len(cols)), 1.5 + 0.35 * len(rows)))
    image = ax.imshow(attention, cmap="Blues", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(len(cols)), cols, rotation=90, fontsize=8)
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    ax.set_title(title, fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.04)
    fig.tight_layout()
    return fig


def gate_norm_figure(tokens, norms, title="input gate L2 norm"):
    """A one-row heat map of the composition BiLSTM's input-gate norms per word (Figure 3)."""
    labels = _with_markers(tokens)
    norms = np.asarray(norms)[:len(labels)][None]
    fig, ax = plt.subplots(figsize=(max(4.5, 1.0 + 0.35 * len(labels)), 1.8))
    ax.imshow(norms, cmap="Reds", aspect="auto")
    ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=8)
    ax.set_yticks([])
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def confusion_figure(matrix, title="confusion matrix"):
    matrix = np.asarray(matrix)
    fig, ax = plt.subplots(figsize=(4.2, 3.6))
    ax.imshow(matrix, cmap="Greens")
    for (i, j), value in np.ndenumerate(matrix):
        ax.text(j, i, str(value), ha="center", va="center", fontsize=9)
    ax.set_xticks(range(len(snli.LABELS)), snli.LABELS, fontsize=8)
    ax.set_yticks(range(len(snli.LABELS)), snli.LABELS, fontsize=8)
    ax.set_xlabel("predicted"), ax.set_ylabel("gold"), ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def to_png(fig, path=None):
    """PNG bytes of ``fig`` (also written to ``path`` if given); closes the figure."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    data = buffer.getvalue()
    if path:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    return data


def write_image_summary(writer, name, png, step=0):
    """A TensorBoard image summary from PNG bytes."""
    import tensorflow as tf
    with writer.as_default(step=step):
        tf.summary.image(name, tf.image.decode_png(png, channels=4)[None])


def render_examples(explain, examples, vocabulary, out_dir, writer=None, step=0):
    """For each ``snli.Example``: attention (both directions) and gate-norm PNGs in ``out_dir`` and, with a
    ``tf.summary`` writer, image summaries. ``explain``: ``esim.explainer(model)``. Returns the PNG paths."""
    paths = []
    for k, e in enumerate(examples):
        batch = {"premise": np.asarray([vocabulary.encode(e.premise_tokens)], np.int32),
                 "hypothesis": np.asarray([vocabulary.encode(e.hypothesis_tokens)], np.int32)}
        out = {name: np.asarray(v)[0] for name, v in explain(batch).items()}
        predicted = snli.LABELS[int(np.argmax(out["probabilities"]))]
        caption = f"gold {snli.LABELS[e.label]}, predicted {predicted}"
        figures = {
            "premise_attention": attention_figure(e.premise_tokens, e.hypothesis_tokens, out["premise_attention"],
                                                  f"premise-to-hypothesis attention\n({caption})"),
            "hypothesis_attention": attention_figure(e.hypothesis_tokens, e.premise_tokens,
                                                     out["hypothesis_attention"], "hypothesis-to-premise attention"),
        }
        for side, tokens in (("premise", e.premise_tokens), ("hypothesis", e.hypothesis_tokens)):
            if f"{side}_gate_norms" in out:
                figures[f"{side}_gate_norms"] = gate_norm_figure(tokens, out[f"{side}_gate_norms"],
                                                                 f"{side}: input gate L2 norm")
        for name, fig in figures.items():
            path = os.path.join(out_dir, f"example{k:03d}_{name}.png")
            png = to_png(fig, path)
            paths.append(path)
            if writer is not None:
                write_image_summary(writer, f"example{k:03d}/{name}", png, step)
    return paths
