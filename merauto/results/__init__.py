"""Results store, selections, reports (plotly), export and prediction."""
