"""What a run found, as people read it: the report computed once from the run's stores and printed
on the terminal (summary, tables), report.html and its plotly figures (html, figures, page),
explanation maps, and the estimates as a table for a paper."""
