"""GloVe text-format vectors (Pennington et al., 2014) restricted to a vocabulary.

Chen et al. (2017, Sec. 4) initialise embeddings with 300-d GloVe 840B and out-of-vocabulary words with Gaussian
samples; here OOV rows are N(0, 0.01^2), seeded, and the ``_PAD_`` row is zero. Each line is ``word v1 ... vd``;
words may contain spaces (840B has some), so the last ``d`` fields are the vector. ``d`` comes from the first line
unless given.
"""
import numpy as np

from nli_app.nli import vocab as vocab_lib
from nli_app.nli.text_lines import numbered_lines

OOV_STDDEV = 0.01


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def load_glove(path, vocabulary, dim=None, seed=0, stddev=OOV_STDDEV):
    """Returns ``(matrix float32 [len(vocabulary), dim], num_found)``."""
    rng = np.random.default_rng(seed)
    found = {}
    for number, line in numbered_lines(path):
        fields = line.rstrip("\n").rstrip(" ").split(" ")
        if fields == [""]:
            continue
        if dim is None:
            dim = len(fields) - 1
            if dim < 1:
                raise ValueError(f"{path}:{number}: a GloVe row needs a word and at least one value")
        if len(fields) < dim + 1:
            raise ValueError(f"{path}:{number}: expected {dim} values after the word, got {len(fields) - 1}")
        word = " ".join(fields[:-dim])
        if not word or (len(fields) > dim + 1 and _is_number(fields[-dim - 1])):
            raise ValueError(f"{path}:{number}: expected a word and {dim} values, got {len(fields)} fields")
        if word not in vocabulary or word in found:
            continue
        try:
            found[word] = np.asarray(fields[-dim:], dtype=np.float32)
        except ValueError:
            raise ValueError(f"{path}:{number}: non-numeric value in the vector of {word!r}") from None
        if not np.all(np.isfinite(found[word])):
            raise ValueError(f"{path}:{number}: non-finite value in the vector of {word!r}")
    if dim is None:
        raise ValueError(f"{path}: empty GloVe file")
    matrix = rng.normal(0.0, stddev, size=(len(vocabulary), dim)).astype(np.float32)
    matrix[vocab_lib.PAD_ID] = 0.0
    for word, vector in found.items():
        matrix[vocabulary.id(word)] = vector
    return matrix, len(found)
