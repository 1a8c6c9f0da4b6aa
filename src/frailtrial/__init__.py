"""frailtrial: randomized, placebo-controlled cell-therapy trials for aging frailty, end to end."""

# The one place of the version: the build reads it from here (pyproject.toml,
# [tool.hatch.version]), and `frailtrial --version` prints it without importing
# importlib.metadata (a tenth of a second at each start).
__version__ = "0.1.0"

__all__ = ["__version__"]
