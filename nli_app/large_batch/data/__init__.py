"""The study's data sets (MNIST, CIFAR, TIMIT), their train / test splits and augmentation."""
