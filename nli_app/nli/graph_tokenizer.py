"""In-graph (tf.strings, RE2) tokenisation and vocabulary lookup of raw text, identical to ``vocab.tokenize``.

For serving: ``encode_in_graph(texts, lookup)`` turns a string batch into padded int32 ids
``_BOS_ ... _EOS_`` (``_PAD_`` = 0) inside a SavedModel graph. TF-only.
"""
import tensorflow as tf

from nli_app.nli.data import vocab as vocab_lib


def tokenize_in_graph(texts):
    """``tf.string`` [B] -> ``tf.RaggedTensor`` [B, None] of tokens; equals ``vocab.tokenize`` per string."""
    texts = tf.strings.regex_replace(texts, vocab_lib.CONTRACTION_REGEX, vocab_lib.CONTRACTION_REWRITE)
    # Every non-whitespace character belongs to a TOKEN_REGEX match, so surrounding matches with spaces and
    # splitting on ASCII whitespace yields exactly the matches.
    texts = tf.strings.regex_replace(texts, vocab_lib.TOKEN_REGEX, r" \0 ")
    return tf.strings.split(texts)


def lookup_table(vocabulary):
    """A ``tf.lookup.StaticHashTable`` token -> id (int64), unknown tokens -> ``_UNK_``."""
    initializer = tf.lookup.KeyValueTensorInitializer(
        tf.constant(vocabulary.tokens), tf.range(len(vocabulary), dtype=tf.int64))
    return tf.lookup.StaticHashTable(initializer, default_value=vocab_lib.UNK_ID)


def encode_in_graph(texts, table):
    """``tf.string`` [B] -> int32 [B, L] ids with ``_BOS_``/``_EOS_``, right-padded with ``_PAD_``."""
    ids = tf.cast(table.lookup(tokenize_in_graph(texts)), tf.int32)
    batch = tf.shape(ids.row_lengths())[0]
    bos = tf.fill([batch, 1], vocab_lib.BOS_ID)
    eos = tf.fill([batch, 1], vocab_lib.EOS_ID)
    return tf.concat([bos, ids, eos], axis=1).to_tensor(vocab_lib.PAD_ID)
