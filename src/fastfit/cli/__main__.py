"""``python -m fastfit.cli``: the ``fastfit`` command without its console script (how
``fastfit stream --dashboard`` starts ``fastfit serve`` beside itself)."""
from . import main

if __name__ == "__main__":
    main()
