"""Stage 2, the hardened grader: every check of the catalogue, outside the student's kernel.

``submissions`` unpacks each submission safely, ``splice`` puts the student's functions
into the trusted release copy, ``grader`` runs the checks on it in a ``sandbox`` through
``runner`` (with ``stand_ins`` for failing layers), ``batch`` does it for a folder of
submissions in worker processes (or one shard of it), ``reports`` writes results.json,
grades.csv and summary.csv, and ``merge_outputs`` joins the grade folders of several shards.
``gradescope`` packs it all as a Gradescope autograder and runs it there.
"""
