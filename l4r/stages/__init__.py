"""One module per stage; each `run(...)` does the work and the CLI only parses flags."""
