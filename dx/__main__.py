"""`python -m dx`: the same entry point as the `dx` console script."""

from dx.cli import main

if __name__ == "__main__":
    main()
