"""The summary page of a run: one static HTML page over every evaluated model, and its figures."""
