"""NLI data: SNLI / MultiNLI / e-SNLI readers, vocabulary, GloVe, parse trees and the tf.data pipeline."""
