#!/usr/bin/env python3
"""Download the datasets and weights the notebooks use; see --help.

    python datasets/get_datasets.py                 # CIFAR-10 (the default)
    python datasets/get_datasets.py imagenet_val squeezenet
    python datasets/get_datasets.py --list

Every asset named is tried even when an earlier one fails; the last line says which are
ready and which failed (exit status 1 if any failed). In a Colab cell, put `!` in front.

Works from any folder. This folder is deliberately not a Python package: `datasets` is the
name of Hugging Face's library.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assignment.download import main  # noqa: E402 (needs the repository root on sys.path)

if __name__ == "__main__":
    sys.exit(main())
