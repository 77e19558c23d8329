"""``export_nli``: export a model trained by ``train_nli`` as a versioned SavedModel that TF Serving hosts unchanged.

Reads ``--model_dir`` (``model.keras``, ``vocab.txt``, ``config.json``; see ``models``) and writes
``--export_base/--model_name/--version/`` atomically (see ``export``): signatures ``serving_default`` and
``classify`` over raw strings, plus ``predict_with_parses`` for models trained on syntactic trees::

    export_nli --model_dir=runs/esim --export_base=/srv/models --model_name=esim       # next free version
    nli_model_server --model_name=esim --model_base_path=/srv/models/esim
    docker run -p 8501:8501 -v /srv/models/esim:/models/esim -e MODEL_NAME=esim tensorflow/serving
"""
import dataclasses
import json
import time

from absl import flags, logging

from nli_app import cli
from nli_app.nli import export, models


def define_flags(flag_values=flags.FLAGS):
    define = dict(flag_values=flag_values)
    flags.DEFINE_string("model_dir", None, "directory written by train_nli (model.keras, vocab.txt, config.json); "
                        "required", **define)
    flags.DEFINE_string("export_base", None, "base directory; the export goes to BASE/NAME/VERSION/ (required)",
                        **define)
    flags.DEFINE_string("model_name", None, "model name (default: the trained model's kind, e.g. esim)", **define)
    flags.DEFINE_integer("version", None, "version number (default: the next free integer)", lower_bound=1,
                         **define)


@dataclasses.dataclass(frozen=True)
class ExportNliOptions:
    """Everything export_nli is told on its command line (defaults: ``define_flags``)."""
    model_dir: str
    export_base: str
    model_name: str | None
    version: int | None


def options_from_flags(flag_values=flags.FLAGS):
    """ExportNliOptions from the parsed flags; UsageError for a missing flag or --model_dir directory."""
    model_dir = cli.existing_path(flag_values, "model_dir", directory=True)
    cli.require(flag_values, "export_base")
    return ExportNliOptions(model_dir=model_dir, export_base=flag_values.export_base,
                            model_name=flag_values.model_name, version=flag_values.version)


def export_trained(options: ExportNliOptions):
    """The binary's work: exports and returns ``{"export_dir", "model_name", "version"}``."""
    start = time.time()
    model, vocabulary, config = models.load(options.model_dir)
    name = options.model_name or config.get("model", "nli")
    path = export.export_versioned(model, vocabulary, options.export_base, name, options.version,
                                   parses=config.get("tree_kind", "syntactic") != "full")
    logging.info("exported %s to %s in %.1f s", options.model_dir, path, time.time() - start)
    return {"export_dir": path, "model_name": name, "version": int(path.rstrip("/").split("/")[-1])}


def main(argv):
    cli.no_arguments(argv)
    print(json.dumps(export_trained(options_from_flags())))


def run():
    cli.run(main, define_flags, __doc__)


if __name__ == "__main__":
    run()
