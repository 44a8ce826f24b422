"""What reading a dataset found (findings), whether every file decodes (validation), whether a
dataset can be evaluated at all (sufficiency), and `merauto datasets check`'s report."""
