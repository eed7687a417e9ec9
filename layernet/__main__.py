"""`python -m layernet ...`: the same command line as the `layernet` script."""
import sys

from layernet.cli import main

if __name__ == "__main__":
    sys.exit(main())
