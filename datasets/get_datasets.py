#!/usr/bin/env python3
"""Download the datasets and weights the notebooks use; see --help.

    python datasets/get_datasets.py                 # CIFAR-10 (the default)
    python datasets/get_datasets.py imagenet_val squeezenet
    python datasets/get_datasets.py --list

Works from any folder. This folder is deliberately not a Python package: `datasets` is the
name of Hugging Face's library.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assignment.download import main  # noqa: E402 (needs the repository root on sys.path)

if __name__ == '__main__':
    sys.exit(main())
