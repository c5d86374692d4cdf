"""Tests of the Dockerfile parser, word expander and typed instructions."""
