"""The parts of training, one concern a module; the public names are in :mod:`npslim.train`.

    models.py       the standard model of a task (build_model), what a model's cell reads (cell_inputs)
    metrics.py      the loss of a minibatch by task kind, the metrics, evaluate
    tbptt.py        truncated BPTT: windows along time, the carried state
    checkpoint.py   every random generator's state (found through children()), JSON entries
    trainer.py      the Trainer: epochs, divergence guard, early stopping, schedules, checkpoints
    history.py      history.json and history.csv
"""
