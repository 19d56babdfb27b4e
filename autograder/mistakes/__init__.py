"""Known mistakes of the exam's functions, one module per student module: hint -> mistaken value."""
