"""One loaded model version: its SavedModel functions and its ``SignatureDef`` protos.

The functions come from ``tf.saved_model.load``; the ``SignatureDef``s (tensor names, dtypes, shapes, method name)
are read from ``saved_model.pb`` itself, exactly what TF Serving reports in ``GetModelMetadata``.
"""
import dataclasses
import os

import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow.python.saved_model import loader_impl

INIT_OP_SIGNATURE_KEY = "__saved_model_init_op"
CLASSIFY_METHOD_NAME = "tensorflow/serving/classify"


@dataclasses.dataclass
class Servable:
    name: str
    version: int
    path: str
    signature_defs: dict          # signature key -> meta_graph_pb2.SignatureDef
    functions: dict               # signature key -> tf ConcreteFunction
    model: object = None          # the loaded object: keeps the functions' variables alive


def load_servable(name: str, version: int, path: str) -> Servable:
    """Loads ``path`` (a SavedModel directory) with the ``serve`` tag. Raises what TF raises when it is broken."""
    saved_model = loader_impl.parse_saved_model(path)
    meta_graphs = [m for m in saved_model.meta_graphs if "serve" in m.meta_info_def.tags]
    if not meta_graphs:
        raise tf.errors.NotFoundError(None, None, f"SavedModel at {path} has no MetaGraph with the 'serve' tag")
    signature_defs = {key: sig for key, sig in meta_graphs[0].signature_def.items() if key != INIT_OP_SIGNATURE_KEY}
    model = tf.saved_model.load(path, tags=["serve"])
    functions = {key: model.signatures[key] for key in signature_defs}
    return Servable(name=name, version=version, path=path, signature_defs=signature_defs, functions=functions,
                    model=model)


def set_method_name(export_dir: str, signature_key: str, method_name: str):
    """Rewrites one signature's ``method_name`` in ``saved_model.pb``.

    ``tf.saved_model.save`` marks every signature as predict; TF Serving routes Classify / Regress by the method name
    (``tensorflow/serving/classify``), so an export with a classify signature needs this.
    """
    path = os.path.join(export_dir, "saved_model.pb")
    saved_model = saved_model_pb2.SavedModel()
    with open(path, "rb") as f:
        saved_model.ParseFromString(f.read())
    for meta_graph in saved_model.meta_graphs:
        meta_graph.signature_def[signature_key].method_name = method_name
    with open(path, "wb") as f:
        f.write(saved_model.SerializeToString())
