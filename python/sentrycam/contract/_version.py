"""The package version: equal to package.json's and src/contract.ts's (test_contract.py)."""

__all__ = ["__version__"]

__version__ = "0.1.0"
