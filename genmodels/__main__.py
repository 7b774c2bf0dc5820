"""`python -m genmodels`: where each model's weights resolve; `--front-matter`: README.md's YAML front matter."""

import sys

from .registry import REGISTRY, WeightsNotFound, front_matter, resolve

if sys.argv[1:] == ["--front-matter"]:
    print(front_matter(), end="")
else:
    for name in REGISTRY:
        try:
            print(f"{name:24s} {resolve(name)}")
        except WeightsNotFound as error:
            print(f"{name:24s} missing: {error}")
