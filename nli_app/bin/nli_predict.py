"""``nli_predict``: entailment predictions from a model server (ours or TF Serving).

gRPC goes through the standard ``PredictionServiceStub`` (``Predict`` on the ``serving_default`` signature of the
export contract), REST through ``POST /v1/models/NAME:predict``, so both work against ``tensorflow_model_server``.

    nli_predict --server=localhost:8500 --model_name=esim --premise="A man sleeps." --hypothesis="A man rests."
    nli_predict --rest --server=localhost:8501 --model_name=esim --input_file=snli_1.0_dev.jsonl
"""
import json
import sys

from absl import app
from absl import flags

from nli_app import cli
from serving.client import LABELS, NLIClient, ServerError, read_pairs

FLAGS = flags.FLAGS


def define_flags(flag_values=flags.FLAGS):
    """The binary's flags (defined on demand: the module is also imported as a library)."""
    define = dict(flag_values=flag_values)
    flags.DEFINE_string("server", "localhost:8500", "host:port of the gRPC API (of the REST API with --rest).",
                        **define)
    flags.DEFINE_string("model_name", "esim", "Model to query.", **define)
    flags.DEFINE_integer("model_version", None, "Version to query (default: the latest).", **define)
    flags.DEFINE_string("premise", None, "Premise sentence.", **define)
    flags.DEFINE_string("hypothesis", None, "Hypothesis sentence.", **define)
    flags.DEFINE_string("input_file", None, "SNLI-format file (jsonl or TSV) of pairs to predict.", **define)
    flags.DEFINE_integer("batch_size", 64, "Pairs per request with --input_file.", **define)
    flags.DEFINE_bool("rest", False, "Use the REST API instead of gRPC.", **define)


def main(argv):
    del argv
    if FLAGS.input_file:
        pairs = read_pairs(FLAGS.input_file)
    elif FLAGS.premise is not None and FLAGS.hypothesis is not None:
        pairs = [(FLAGS.premise, FLAGS.hypothesis, None)]
    else:
        raise app.UsageError("Give --premise and --hypothesis, or --input_file")
    client = NLIClient(FLAGS.server, FLAGS.model_name, rest=FLAGS.rest, version=FLAGS.model_version)
    correct = labelled = 0
    try:
        for start in range(0, len(pairs), FLAGS.batch_size):
            chunk = pairs[start:start + FLAGS.batch_size]
            for (premise, hypothesis, gold), prediction in zip(
                    chunk, client.predict([p for p, _, _ in chunk], [h for _, h, _ in chunk])):
                print(json.dumps({"premise": premise, "hypothesis": hypothesis, "label": prediction.label,
                                  "probabilities": prediction.probabilities, "gold_label": gold}))
                if gold in LABELS:
                    labelled += 1
                    correct += gold == prediction.label
    except ServerError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        client.close()
    if labelled:
        print(json.dumps({"accuracy": correct / labelled, "examples": labelled}), file=sys.stderr)
    return 0


def run():
    cli.run(main, define_flags, __doc__)


if __name__ == "__main__":
    run()
