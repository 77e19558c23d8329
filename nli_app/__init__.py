"""nli_app: the survey optimizers, the large-batch study and ESIM/HIM NLI on one tf.distribute trainer."""
