"""Known mistaken formulas, one module per student module: {hint: what the mistake gives}."""
