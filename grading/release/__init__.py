"""Stage 1, the release build: the student release from the instructor's source.

``stage`` copies the release-safe files (solutions stubbed by ``strip``, hidden tests
removed, the public-check data made by ``expected``), ``build`` has nbgrader generate the
student notebooks and ``leaks`` scan the result; ``publish`` fits it to the course's
repository (``setup_cell`` and ``hand_in_cell`` are the cells every notebook shares).
"""
