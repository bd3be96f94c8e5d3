"""A/B tests of limits, offers and wording, defined in the YAML (`experiments:`): the
model and assignment (model.py, assign.py), validation (schema.py), the protection of
running experiments (protect.py), the statistics (stats.py) and the report (report.py)."""
