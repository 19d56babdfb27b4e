"""Known mistakes of the exam's functions, one module per student module: hint -> mistaken value.

Shared by the hidden suites and the students' public checks (shipped in the bundle): no hidden
input, and no code that computes a graded function's correct value in numpy."""
