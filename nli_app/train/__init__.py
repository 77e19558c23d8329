"""The one tf.distribute trainer shared by every experiment (TF-only code)."""
