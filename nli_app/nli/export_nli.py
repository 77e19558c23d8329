"""``export_nli``: export a model trained by ``train_nli`` as a versioned SavedModel that TF Serving hosts unchanged.

Reads ``--model_dir`` (``model.keras``, ``vocab.txt``, ``config.json``; see ``models``) and writes
``--export_base/--model_name/--version/`` atomically (see ``export``): signatures ``serving_default`` and
``classify`` over raw strings, plus ``predict_with_parses`` for models trained on syntactic trees::

    export_nli --model_dir=runs/esim --export_base=/srv/models --model_name=esim       # next free version
    nli_model_server --model_name=esim --model_base_path=/srv/models/esim
    docker run -p 8501:8501 -v /srv/models/esim:/models/esim -e MODEL_NAME=esim tensorflow/serving
"""
import json
import time

from absl import app, flags, logging

from nli_app.absl_flags import define_once
from nli_app.nli import export, models

FLAGS = flags.FLAGS

define_once(flags.DEFINE_string, "model_dir", None,
            "directory written by train_nli (model.keras, vocab.txt, config.json)")
define_once(flags.DEFINE_string, "export_base", None, "base directory; the export goes to BASE/NAME/VERSION/")
define_once(flags.DEFINE_string, "model_name", None, "model name (default: the trained model's kind, e.g. esim)")
define_once(flags.DEFINE_integer, "version", None, "version number (default: the next free integer)")


def main(argv):
    del argv
    if not FLAGS.model_dir or not FLAGS.export_base:
        raise app.UsageError("--model_dir and --export_base are required")
    start = time.time()
    model, vocabulary, config = models.load(FLAGS.model_dir)
    name = FLAGS.model_name or config.get("model", "nli")
    path = export.export_versioned(model, vocabulary, FLAGS.export_base, name, FLAGS.version,
                                   parses=config.get("tree_kind", "syntactic") != "full")
    logging.info("exported %s to %s in %.1f s", FLAGS.model_dir, path, time.time() - start)
    print(json.dumps({"export_dir": path, "model_name": name, "version": int(path.rstrip("/").split("/")[-1])}))


def run():
    app.run(main)


if __name__ == "__main__":
    run()
