"""Same export, same clients: the shipped pretrained ESIM exported by ``export_nli`` is loaded the way TF Serving's
C++ server loads a SavedModel (a TF1 graph and session, ``tf.compat.v1.saved_model.loader.load`` with the ``serve``
tag: restore op, then init op; tensors fed and fetched by the names its ``SignatureDef``s give), fed raw strings,
and must answer what ``nli_model_server`` answers over gRPC and REST for the same export. The export's warm-up
file is TF Serving's format and is replayed by our server."""
import json
import os
import urllib.request

import grpc
import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format
from prometheus_client.parser import text_string_to_metric_families
from tensorflow_serving.apis import classification_pb2, prediction_service_pb2_grpc
from tensorflow_serving.config import model_server_config_pb2

from nli_app.bin import export_nli
from nli_app.nli.data import snli
from nli_app.testing import serving_requests
from nli_app.testing.server_process import free_port
from serving import config as config_lib
from serving import warmup
from serving.server import ModelServer

SHIPPED = "nli_app/data/models/esim_snli"
pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    base = tmp_path_factory.mktemp("exports")
    result = export_nli.export_trained(export_nli.ExportNliOptions(model_dir=SHIPPED, export_base=str(base),
                                                                   model_name="esim", version=1))
    examples = snli.read_snli(snli.sample_path("dev"), limit=6).examples
    pairs = [(e.premise, e.hypothesis) for e in examples] + [("Zebras fly!", "A cat isn't outside .")]
    return result["export_dir"], pairs


def tf1_session_outputs(export_dir, pairs):
    """TF Serving's way: a TF1 session over the SavedModel's graph, tensors named by the SignatureDefs."""
    premises = [p.encode() for p, _ in pairs]
    hypotheses = [h.encode() for _, h in pairs]
    examples = []
    for premise, hypothesis in zip(premises, hypotheses):
        example = tf.train.Example()
        example.features.feature["premise"].bytes_list.value.append(premise)
        example.features.feature["hypothesis"].bytes_list.value.append(hypothesis)
        examples.append(example.SerializeToString())
    with tf.Graph().as_default() as graph, tf.compat.v1.Session(graph=graph) as session:
        meta_graph = tf.compat.v1.saved_model.loader.load(session, ["serve"], export_dir)
        predict = meta_graph.signature_def["serving_default"]
        outputs = session.run({k: v.name for k, v in predict.outputs.items()},
                              {predict.inputs["premise"].name: premises,
                               predict.inputs["hypothesis"].name: hypotheses})
        classify = meta_graph.signature_def["classify"]
        assert classify.method_name == "tensorflow/serving/classify"
        classified = session.run({k: v.name for k, v in classify.outputs.items()},
                                 {classify.inputs["inputs"].name: examples})
    return outputs, classified


def test_tf1_session_answers_what_our_server_answers(exported):
    export_dir, pairs = exported
    tf1, tf1_classified = tf1_session_outputs(export_dir, pairs)
    assert set(tf1) == {"probabilities", "label", "label_id"}
    np.testing.assert_allclose(tf1["probabilities"].sum(axis=1), 1.0, rtol=1e-5)
    assert len(set(tf1["label"])) > 1  # a trained model, not a constant: the comparison below means something
    np.testing.assert_allclose(tf1_classified["scores"], tf1["probabilities"], rtol=1e-5, atol=1e-6)

    base = os.path.dirname(export_dir)
    config = text_format.Parse(f'model_config_list {{ config {{ name: "esim" base_path: "{base}" }} }}',
                               model_server_config_pb2.ModelServerConfig())
    server = ModelServer(config_lib.ServerOptions(model_config=config, port=0, rest_api_port=free_port(),
                                                  host="127.0.0.1", file_system_poll_wait_seconds=0))
    server.start()
    try:
        premises, hypotheses = [p for p, _ in pairs], [h for _, h in pairs]
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            response = stub.Predict(serving_requests.predict_request(premises, hypotheses, "esim"), timeout=60)
            request = classification_pb2.ClassificationRequest()
            request.model_spec.name, request.model_spec.signature_name = "esim", "classify"
            for premise, hypothesis in pairs:
                example = request.input.example_list.examples.add()
                example.features.feature["premise"].bytes_list.value.append(premise.encode())
                example.features.feature["hypothesis"].bytes_list.value.append(hypothesis.encode())
            classified = stub.Classify(request, timeout=60)
        body = json.dumps({"instances": [{"premise": p, "hypothesis": h} for p, h in pairs]}).encode()
        with urllib.request.urlopen(urllib.request.Request(
                f"http://127.0.0.1:{server.rest_port}/v1/models/esim:predict", body), timeout=60) as answer:
            rest = json.loads(answer.read())["predictions"]
        warmups = [s.value for family in text_string_to_metric_families(server.metrics.exposition().decode())
                   for s in family.samples if s.name == ":tensorflow:serving:model_warmup_latency_count"
                   and s.labels == {"model_path": export_dir, "status": "OK"}]
    finally:
        server.stop()

    grpc_probabilities = np.reshape(response.outputs["probabilities"].float_val, (-1, 3))
    np.testing.assert_allclose(grpc_probabilities, tf1["probabilities"], rtol=1e-5, atol=1e-6)
    assert list(response.outputs["label"].string_val) == list(tf1["label"])
    assert list(response.outputs["label_id"].int64_val) == list(tf1["label_id"])
    np.testing.assert_allclose([r["probabilities"] for r in rest], tf1["probabilities"], rtol=1e-5, atol=1e-6)
    assert [r["label"] for r in rest] == [label.decode() for label in tf1["label"]]
    np.testing.assert_allclose([[c.score for c in item.classes] for item in classified.result.classifications],
                               tf1_classified["scores"], rtol=1e-5, atol=1e-6)
    assert warmups == [1], "the export's warm-up requests were not replayed"


def test_export_carries_tf_servings_warmup_file(exported):
    export_dir, _ = exported
    logs = warmup.read_logs(export_dir)
    kinds = [log.WhichOneof("log_type") for log in logs]
    # Each warm-up pair alone and all together on serving_default, then one Classify of all of them.
    assert kinds == ["predict_log"] * 6 + ["classify_log"]
    sizes = [len(log.predict_log.request.inputs["premise"].string_val) for log in logs[:6]]
    assert sizes == [1, 1, 1, 1, 1, 5]
    lengths = sorted(len(log.predict_log.request.inputs["premise"].string_val[0]) for log in logs[:5])
    assert len({n.bit_length() for n in lengths}) == 5  # five different length buckets of the batcher
    assert {log.predict_log.request.model_spec.signature_name for log in logs[:6]} == {"serving_default"}
