"""The real thing: a small ESIM trained on SNLI dev pairs, exported with ``nli_app.nli.export`` (the export
contract), served by ``nli_model_server`` and queried over gRPC and REST; the answers must equal the Keras model's
in this process. Version 2 is published with ``export_versioned`` (atomic) while serving."""
import time

import keras
import numpy as np
import pytest

from nli_app.nli import export
from nli_app.nli.data import snli
from nli_app.nli.data import vocab as vocab_lib
from nli_app.nli.models import esim
from nli_app.testing.server_process import ServerProcess
from serving.client import NLIClient

SNLI_DEV = snli.sample_path("dev")


def keras_inputs(vocab, premises, hypotheses):
    out = {}
    for side, texts in (("premise", premises), ("hypothesis", hypotheses)):
        ids = [vocab.encode(vocab_lib.tokenize(t)) for t in texts]
        width = max(map(len, ids))
        out[side] = np.array([i + [vocab_lib.PAD_ID] * (width - len(i)) for i in ids], np.int32)
    return out


def train_esim(examples, vocab, seed):
    keras.utils.set_random_seed(seed)
    model = esim.build_esim(len(vocab), embedding_dim=8, hidden_units=8, dropout=0.0)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(keras_inputs(vocab, [e.premise for e in examples], [e.hypothesis for e in examples]),
              np.array([e.label for e in examples]), batch_size=16, epochs=2, verbose=0)
    return model


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_exported_esim_served_over_grpc_and_rest(tmp_path):
    examples = snli.read_snli(SNLI_DEV, limit=64).examples
    vocab = vocab_lib.Vocabulary.from_examples(examples)
    v1, v2 = train_esim(examples, vocab, seed=1), train_esim(examples, vocab, seed=2)
    export.export_versioned(v1, vocab, str(tmp_path), "esim", version=1)
    pairs = [(e.premise, e.hypothesis) for e in examples[:6]] + [("Zebras fly!", "A cat isn't outside .")]
    premises, hypotheses = [p for p, _ in pairs], [h for _, h in pairs]
    x = keras_inputs(vocab, premises, hypotheses)
    expected = {1: keras.ops.convert_to_numpy(v1(x, training=False)),
                2: keras.ops.convert_to_numpy(v2(x, training=False))}
    with ServerProcess(["--model_name=esim", f"--model_base_path={tmp_path / 'esim'}",
                        "--file_system_poll_wait_seconds=0.5"]) as server:
        clients = [NLIClient(server.grpc_address, "esim"), NLIClient(server.rest_address, "esim", rest=True)]
        for client in clients:
            got = client.predict(premises, hypotheses)
            np.testing.assert_allclose([[p.probabilities[k] for k in snli.LABELS] for p in got], expected[1],
                                       rtol=1e-4, atol=1e-5)
            assert [p.label for p in got] == [snli.LABELS[i] for i in expected[1].argmax(1)]
        export.export_versioned(v2, vocab, str(tmp_path), "esim")  # the next free version: 2
        deadline = time.monotonic() + 300
        while True:
            got = clients[0].predict(premises, hypotheses)
            probabilities = np.array([[p.probabilities[k] for k in snli.LABELS] for p in got])
            if not np.allclose(probabilities, expected[1], rtol=1e-4, atol=1e-5):
                break
            assert time.monotonic() < deadline, "version 2 never served"
            time.sleep(0.5)
        np.testing.assert_allclose(probabilities, expected[2], rtol=1e-4, atol=1e-5)
        for client in clients:
            client.close()
        assert server.stop() == 0
