"""The per-epoch history of a training run (``model_dir/history.json``): {log name: [value per epoch]}.

Written after every epoch, so a resumed run reports the epochs it did before the restart too.
"""
import json
import os


class History(dict):
    """{name: [value per epoch]}, optionally backed by ``path`` (None: kept in memory only)."""

    def __init__(self, path=None):
        super().__init__()
        self.path = path

    @classmethod
    def resume(cls, model_dir, epochs_done):
        """The history of a run's first ``epochs_done`` epochs (what its last checkpoint has seen)."""
        history = cls(os.path.join(model_dir, "history.json"))
        if epochs_done and os.path.exists(history.path):
            with open(history.path) as f:
                history.update({k: v[:epochs_done] for k, v in json.load(f).items()})
        return history

    def append(self, logs):
        for name, value in logs.items():
            self.setdefault(name, []).append(float(value))

    def write(self):
        """Rewrites the file atomically (a kill never leaves half of it)."""
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(dict(self), f, indent=1)
        os.replace(tmp, self.path)
