"""Report formats, one module each: terminal table, JSON (and, for a class, more)."""
