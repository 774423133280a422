"""Instructor tooling: public-check data, release build, nbgrader glue, hardened grading."""
