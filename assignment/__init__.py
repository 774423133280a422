"""The assignment package: numpy layers, optimizers, a solver and the models built from them.

Student code lives in the regions marked TODO; everything else is provided.
"""
