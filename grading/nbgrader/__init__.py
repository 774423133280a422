"""Stage 3, the nbgrader glue: the gradebook, the formgrader and feedback for a batch.

``workspace`` keeps the grading ``course`` (built once, copied privately per submission,
merged back), ``autograde`` runs nbgrader on each submission in the confined ``kernel``
beside the hardened grader, ``reconcile`` writes the hardened scores into the gradebook,
``locked_cells`` and ``outputs`` keep edited or oversized notebooks gradable,
``feedback`` renders HTML without hidden tests, and ``export`` brings the formgrader's
scores of the written answers into grades.csv and summary.csv.
"""
