"""Keskar et al. (2017), On Large-Batch Training for Deep Learning: networks, data and experiments."""
