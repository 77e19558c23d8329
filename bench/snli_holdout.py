"""Splits an SNLI ``.jsonl`` file into a training part and a held-out part that share no image (hence no premise).

Why: the dev pairs with parses (1,289) are too few to tell HIM from ESIM (a paired standard error of ~0.6 points,
README "The tree model and HIM on 100,000 pairs"); the training file's pairs carry parses, so its tail, never
trained on, is a parsed evaluation set as large as one likes. The training part is the file but its last
``--held_out_lines`` lines; the held-out part is those last lines less the ones whose Flickr30k image
(``captionID`` = ``<image>#<n>``) some training line also shows: another caption of the same picture is not a new
premise. Lines are copied byte for byte, in order (blank lines dropped; blank-label ``-`` lines kept: the readers
drop them).

    python bench/snli_holdout.py --input=../shared/data/snli/snli_1.0_train_first100k.jsonl \
        --held_out_lines=15000 --train_output=runs/holdout/train.jsonl --held_out_output=runs/holdout/held_out.jsonl
"""
import dataclasses
import json
import os
import sys

from absl import flags

sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the project, not bench/

from nli_app import cli  # noqa: E402


def define_flags(flag_values=flags.FLAGS):
    define = dict(flag_values=flag_values)
    flags.DEFINE_string("input", None, "SNLI .jsonl file whose lines have a 'captionID', as the official files' "
                        "do (required)", **define)
    flags.DEFINE_integer("held_out_lines", 15000, "the last lines held out (fewer if their image is in training)",
                         lower_bound=1, **define)
    flags.DEFINE_string("train_output", None, "where the training part goes (required)", **define)
    flags.DEFINE_string("held_out_output", None, "where the held-out part goes (required)", **define)


def image(line, path, number):
    """The Flickr30k image of one SNLI line (``captionID`` before ``#``); ValueError naming file and line."""
    try:
        return json.loads(line)["captionID"].split("#")[0]
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ValueError(f"{path}:{number}: no JSON object with a string 'captionID'") from None


def split(lines, held_out_lines, path="<lines>"):
    """``(train, held_out, dropped)``: ``train`` is ``lines`` but the last ``held_out_lines``; ``held_out`` those of
    the last lines whose image no training line shows; ``dropped`` the count of the others (on no side)."""
    if held_out_lines >= len(lines):
        raise ValueError(f"{path}: {len(lines)} lines, cannot hold out {held_out_lines}")
    cut = len(lines) - held_out_lines
    seen = {image(line, path, n) for n, line in enumerate(lines[:cut], 1)}
    held_out = [line for n, line in enumerate(lines[cut:], cut + 1) if image(line, path, n) not in seen]
    return lines[:cut], held_out, held_out_lines - len(held_out)


@dataclasses.dataclass(frozen=True)
class Options:
    input: str
    held_out_lines: int
    train_output: str
    held_out_output: str


def options_from_flags(flag_values):
    """Options from the parsed flags; UsageError naming a missing flag or input file."""
    cli.require(flag_values, "train_output", "held_out_output")
    return Options(input=cli.existing_path(flag_values, "input"), held_out_lines=flag_values.held_out_lines,
                   train_output=flag_values.train_output, held_out_output=flag_values.held_out_output)


def write_split(options):
    """Reads ``options.input``, writes both parts; returns their line counts."""
    with open(options.input, encoding="utf-8") as f:
        lines = [line for line in f if line.strip()]
    train, held_out, dropped = split(lines, options.held_out_lines, options.input)
    for path, part in ((options.train_output, train), (options.held_out_output, held_out)):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.writelines(part)
    return len(train), len(held_out), dropped


def main(argv):
    cli.no_arguments(argv)
    options = options_from_flags(flags.FLAGS)
    train, held_out, dropped = write_split(options)
    print(f"{train} training lines -> {options.train_output}; {held_out} held-out lines -> "
          f"{options.held_out_output}; {dropped} lines dropped (their image is in the training part)")


if __name__ == "__main__":
    cli.run(main, define_flags, __doc__)
