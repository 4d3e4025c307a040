"""Reports: the results table of one `make all` run (results.py), the study report of `make
experiment` (study.py), with their shared tables and significance (tables.py), figures
(figures.py) and the paper's numbers (paper.py). `l4r report` runs them."""
