"""The PredictRequest builder the serving tests share."""
from tensorflow_serving.apis import predict_pb2

from serving.client import string_tensor


def predict_request(premises, hypotheses, name, **model_spec):
    """A PredictRequest for model ``name``; ``model_spec``: version, version_label, signature_name; an input that
    is None is left out (for the missing-input error cases)."""
    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    for key, value in model_spec.items():
        if key == "version":
            request.model_spec.version.value = value
        else:
            setattr(request.model_spec, key, value)
    if premises is not None:
        request.inputs["premise"].CopyFrom(string_tensor(premises))
    if hypotheses is not None:
        request.inputs["hypothesis"].CopyFrom(string_tensor(hypotheses))
    return request
