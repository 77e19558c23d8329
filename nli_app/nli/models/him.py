"""HIM, the Hybrid Inference Model of Chen et al. 2017 (Sec. 3, Table 1 "HIM (ESIM + syn.tree)"): the average of
the class probabilities of its members, typically ESIM and the syntactic tree-LSTM model.

Table 2's "ESIM + tree" is the same composition with a tree member fed *full binary trees*
(``trees.tree_features(None, tokens)``; ``dataset.make_dataset(..., tree_kind="full")``) instead of parses: the
members are trained separately and only combined here.
"""
import keras


def build_him(members, name="him"):
    """A Keras model whose inputs are the union of the members' inputs (by name) and whose output is the mean of
    their probabilities [B, 3]. Members keep their (shared, trained) weights."""
    members = list(members)
    if len(members) < 2:
        raise ValueError(f"HIM combines at least two models, got {len(members)}")
    inputs = {}
    for member in members:
        for spec in keras.tree.flatten(member.inputs):
            if spec.name in inputs:
                if inputs[spec.name].dtype != spec.dtype:
                    raise ValueError(f"members disagree on input {spec.name!r}: "
                                     f"{inputs[spec.name].dtype} vs {spec.dtype}")
                continue
            inputs[spec.name] = keras.Input(spec.shape[1:], dtype=spec.dtype, name=spec.name)
    outputs = [member({t.name: inputs[t.name] for t in keras.tree.flatten(member.inputs)}) for member in members]
    return keras.Model(inputs, keras.layers.Average(name="probabilities")(outputs), name=name)
