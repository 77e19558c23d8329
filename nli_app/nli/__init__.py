"""Chen et al. (2017), Enhanced LSTM for Natural Language Inference: data, ESIM, tree-LSTM, HIM, export."""
