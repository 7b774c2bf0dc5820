"""Training and evaluation toolkit: `python -m train.<model> --help`, `python -m train.evaluate --help`."""
