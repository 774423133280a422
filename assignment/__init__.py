"""The assignment package: numpy layers, optimizers, a solver and the models built from them.

The functions you write raise NotImplementedError until you do, each naming the notebook
that teaches it; everything else is provided. `python -m assignment.check` checks your
work, `python -m assignment.submit` packs it for handing in.
"""
