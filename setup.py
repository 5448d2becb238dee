"""The native runtime is compiled by the package's own build, through cffi."""
from setuptools import setup

setup(cffi_modules=["edge_sdk/runtime/build_native.py:ffibuilder"])
