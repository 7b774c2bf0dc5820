"""`python -m genmodels`: where each model's weights resolve and what, if anything, is wrong with them;
`--front-matter`: README.md's YAML front matter."""

import sys

from .registry import REGISTRY, WeightsError, check_folder, front_matter, resolve

if sys.argv[1:] == ["--front-matter"]:
    print(front_matter(), end="")
else:
    for name in REGISTRY:
        try:
            folder = resolve(name)
            check_folder(name, folder)
            print(f"{name:24s} {folder}")
        except WeightsError as error:
            print(f"{name:24s} unusable: {error}")
