"""Every value the project quotes from its papers, by table and row; binaries, benchmarks and scripts read them here.

Keskar et al., "On Large-Batch Training for Deep Learning: Generalization Gap and Sharp Minima" (ICLR 2017):
values are (mean, standard deviation) over the paper's trials; SB = small batch (256), LB = large batch (10% of
the training set); accuracies in percent.
Chen et al., "Enhanced LSTM for Natural Language Inference" (ACL 2017): SNLI accuracies in percent.
"""

# Keskar et al., Table 2: training and testing accuracy. Rows F1 (MNIST) and C1 (CIFAR-10).
KESKAR_TABLE_2 = {
    "F1": {"SB": {"train": (99.66, 0.05), "test": (98.03, 0.07)},
           "LB": {"train": (99.92, 0.01), "test": (97.81, 0.07)}},
    "C1": {"SB": {"train": (99.89, 0.02), "test": (80.04, 0.12)},
           "LB": {"train": (99.66, 0.2), "test": (77.26, 0.42)}},
}

# Keskar et al., Table 3: sharpness (Metric 2.1) in the full space (A = I), by epsilon. Rows F1 and C1.
KESKAR_TABLE_3 = {
    "F1": {"SB": {1e-3: (1.23, 0.83), 5e-4: (0.61, 0.27)},
           "LB": {1e-3: (205.14, 69.52), 5e-4: (42.90, 17.14)}},
    "C1": {"SB": {1e-3: (28.58, 3.13), 5e-4: (7.08, 0.88)},
           "LB": {1e-3: (707.23, 43.04), 5e-4: (227.31, 23.23)}},
}

# Keskar et al., Table 4: sharpness in a random 100-dimensional subspace (A: n x 100), by epsilon. Rows F1 and C1.
KESKAR_TABLE_4 = {
    "F1": {"SB": {1e-3: (0.11, 0.00), 5e-4: (0.05, 0.00)},
           "LB": {1e-3: (9.22, 0.56), 5e-4: (9.17, 0.14)}},
    "C1": {"SB": {1e-3: (2.18, 0.23), 5e-4: (0.71, 0.15)},
           "LB": {1e-3: (137.25, 21.60), 5e-4: (29.50, 7.48)}},
}
KESKAR_TABLE_4_SUBSPACE_DIM = 100

# Chen et al., Table 1: SNLI training and test accuracy of the paper's models (trained on the 550,152 SNLI training
# pairs with GloVe 840B 300-d embeddings). Rows "ESIM" and "HIM (ESIM + syn.tree)".
CHEN_TABLE_1 = {
    "ESIM": {"parameters": "4.3M", "train": 92.6, "test": 88.0},
    "HIM (ESIM + syn.tree)": {"parameters": "7.7M", "train": 93.5, "test": 88.6},
}
# Chen et al., Sec. 4 (data): the SNLI 1.0 training pairs behind Table 1.
CHEN_TRAIN_PAIRS = 550_152


def keskar_sharpness(network, regime, epsilon, subspace_dim=None):
    """(mean, std) of Table 3 (``subspace_dim`` None) or Table 4 (100); None where the paper has no such cell."""
    table = {None: KESKAR_TABLE_3, KESKAR_TABLE_4_SUBSPACE_DIM: KESKAR_TABLE_4}.get(subspace_dim, {})
    return table.get(network, {}).get(regime, {}).get(epsilon)
