"""Greff et al. 2017's study at any scale: random search over cells and hyperparameters on Dask,
a durable SQLite store with resume, fANOVA and Welch's t-tests (``npslim study``; docs/study.md).

    from npslim.study import make_definition, run_study, write_report
    definition = make_definition("vowels", ["lstm", "nfg", "cifg"], trials=20, seed=0)
    run_study("studies/vowels", definition, workers=2)       # or scheduler="tcp://host:8786"
    write_report("studies/vowels")                           # studies/vowels/report/report.md

Modules: space (search spaces, seeded draws), store (study.json and results.sqlite), runner (Dask
execution), analysis (fANOVA, Welch's t-test with Holm's correction), report (Markdown and figures),
cli (``npslim study``).
"""
from .analysis import fanova, welch
from .report import write_report
from .runner import TRAINING_DEFAULTS, make_definition, run_study, run_trial, start_client
from .space import GREFF_SPACE, SearchSpace, draw_trials
from .store import Store, StudyError

__all__ = ["GREFF_SPACE", "SearchSpace", "draw_trials", "Store", "StudyError", "TRAINING_DEFAULTS",
           "make_definition", "run_study", "run_trial", "start_client", "fanova", "welch", "write_report"]
