"""The papers' training recipes by name: what their authors ran, and where npslim differs.

    from npslim import recipes
    recipes.names()                                   # every recipe
    r = recipes.get("lu-salem-2017-mnist-rows")
    print(r.describe())                               # the settings, the authors' run, the differences
    task, model, trainer = r.setup("lstm2", n_train=2000, epochs=5)   # any setting can be overridden
    trainer.fit(r.epochs)

    npslim train --recipe lu-salem-2017-mnist-rows --cell lstm2 --limit 2000 --epochs 5

A :class:`Recipe` names a task and its options, the cells the paper compared and their options, the
hidden size, the optimizer and its options, the learning-rate schedule, gradient clipping, the
initialisation scheme (:mod:`npslim.initializers`), the batch size, the epochs and early stopping
(patience, and the history key it watches).  ``setup`` builds all three with any of them changed;
on the command line every flag given explicitly wins over the recipe.  The settings come from
the papers and, where public, the authors' code (named in each recipe); ``faithful`` says what
the authors ran and ``differs`` what npslim does otherwise.
"""
from __future__ import annotations

import dataclasses
import textwrap

from .study.space import GREFF_SPACE

__all__ = ["Recipe", "RECIPES", "names", "get", "KERAS_RMSPROP", "GREFF_SEARCH_SPACE"]

#: RMSprop as Keras 1 defines it (ρ = 0.9, ε = 1e-8, ε added to √v as torch does); torch's default
#: alpha (its ρ) is 0.99
KERAS_RMSPROP = {"alpha": 0.9, "eps": 1e-8}

#: Greff et al. 2017's random-search ranges: the study runner's own (``npslim.study.GREFF_SPACE``)
GREFF_SEARCH_SPACE = GREFF_SPACE


@dataclasses.dataclass(frozen=True)
class Recipe:
    """One paper's training recipe (see the module docstring)."""

    name: str
    paper: str
    summary: str
    task: str
    cells: tuple
    hidden_size: int
    optimizer: str
    lr: float
    batch_size: int
    epochs: int
    faithful: str
    differs: str
    task_options: dict = dataclasses.field(default_factory=dict)
    cell_options: dict = dataclasses.field(default_factory=dict)
    optimizer_options: dict = dataclasses.field(default_factory=dict)
    schedule: str = "none"
    schedule_options: dict = dataclasses.field(default_factory=dict)
    clip: float = 0.0
    init: str = "npslim"
    patience: int | None = None
    monitor: str | None = None
    val_fraction: float = 0.0
    sweep: dict = dataclasses.field(default_factory=dict)
    search_space: dict | None = None
    tbptt: int | None = None        # the truncated-BPTT window the authors ran (None: the recipe sets none)

    def options_for(self, cell):
        """The recipe's cell options that ``cell`` (a registered name) accepts."""
        import inspect
        from . import cells
        accepted = inspect.signature(cells.get(cell).__init__).parameters
        return {k: v for k, v in self.cell_options.items() if k in accepted}

    def trainer_settings(self):
        """The keywords of :class:`npslim.train.Trainer` this recipe sets."""
        return dict(optimizer=self.optimizer, lr=self.lr, optimizer_options=dict(self.optimizer_options),
                    clip=self.clip, schedule=self.schedule, schedule_options=dict(self.schedule_options),
                    batch_size=self.batch_size, patience=self.patience, monitor=self.monitor,
                    val_fraction=self.val_fraction, **({} if self.tbptt is None else {"tbptt": self.tbptt}))

    def setup(self, cell=None, *, seed=0, n_train=None, n_test=None, task_options=None, task=None,
              cell_options=None, hidden_size=None, init=None, **trainer_overrides):
        """(task, model, trainer) of this recipe for ``cell`` (default: the first of ``cells``).

        ``n_train``/``n_test`` take seeded subsets of the data; ``task_options``, ``cell_options``
        update the recipe's; ``task``: a task built before (by an earlier ``setup``) to reuse
        instead of loading the data again; ``hidden_size``, ``init`` and any Trainer keyword
        (``lr``, ...; the epochs go to ``fit``) replace the recipe's."""
        from . import tasks
        from .initializers import initialize
        from .train import Trainer, build_model
        cell = cell or self.cells[0]
        topts = dict(self.task_options, **(task_options or {}))
        if n_train is not None:
            topts["n_train"] = n_train
        if n_test is not None:
            topts["n_test"] = n_test
        if task is None:
            task = tasks.make(self.task, seed=seed, **topts)
        elif task.name != self.task or n_train is not None or n_test is not None or task_options:
            raise ValueError(f"task: expected a {self.task!r} task built by an earlier setup and no n_train, "
                             f"n_test or task_options with it, got {task.name!r}")
        model = build_model(task, cell, hidden_size or self.hidden_size, seed=seed,
                            **dict(self.options_for(cell), **(cell_options or {})))
        initialize(model, init or self.init, seed=seed)
        settings = dict(self.trainer_settings(), seed=seed, progress=False, desc=cell)
        settings.update(trainer_overrides)
        return task, model, Trainer(model, task, **settings)

    def describe(self):
        """The recipe as text: its settings, what the authors ran, where npslim differs."""
        width = 100
        fill = lambda label, text: textwrap.fill(text, width, initial_indent=f"{label:<10}",  # noqa: E731
                                                 subsequent_indent=" " * 10)
        rows = [f"{self.name}: {self.summary} ({self.paper})",
                fill("task", f"{self.task} {self.task_options or ''}; cells {', '.join(self.cells)}"
                     + (f" with {self.cell_options}" if self.cell_options else "") + f"; n = {self.hidden_size}"),
                fill("training", f"{self.optimizer} lr {self.lr:g} {self.optimizer_options or ''}; schedule "
                     f"{self.schedule} {self.schedule_options or ''}; clip {self.clip or 'off'}; init {self.init}; "
                     f"batch {self.batch_size}; " + (f"tbptt {self.tbptt}; " if self.tbptt else "") + f"{self.epochs} epochs; early stopping "
                     + (f"on {self.monitor or 'the default monitor'}, patience {self.patience}"
                        if self.patience else "off")),
                fill("authors", self.faithful), fill("npslim", self.differs)]
        if self.sweep:
            rows.append(fill("sweep", "; ".join(f"{k} over {v}" for k, v in self.sweep.items())))
        if self.search_space:
            rows.append(fill("search", "; ".join(f"{k}: {v['dist']} in [{v['low']:g}, {v['high']:g}]"
                                                 for k, v in self.search_space.items())))
        return "\n".join(rows)


# ---------------------------------------------------------------------------- Lu & Salem 2017
_LU_SALEM_CODE = ("The authors' code (jingweimo/Modified-LSTM, mnist_imdb_lstm.py, Keras 1 + Theano): RMSprop(lr=η₀) "
                  "with Keras 1's ρ = 0.9, ε = 1e-8; η set in on_epoch_end to η₀·exp(that epoch's training loss), "
                  "so epoch 1 runs at η₀; no gradient clipping; forget-gate bias 1; batch 32; early stopping on "
                  "TEST accuracy (patience 50 on MNIST, 20 on IMDB) with the best epoch kept (as they did: the reported number is selected on the "
                  "test set, there is no validation split).")
_LU_SALEM_DIFF = ("npslim's RMSprop is torch's formula (ε added to √v, as Keras 1) with alpha = 0.9 set here: "
                  "torch's default alpha is 0.99. The slim gates are separate cells with only the weights they use "
                  "(Keras multiplied the removed terms by 0 and kept them, so its summary shows the vanilla count). "
                  "Softmax cross-entropy over 10 classes, as theirs.")
_LU_SALEM_MNIST = dict(
    paper="Lu & Salem 2017", cells=("lstm", "lstm1", "lstm2", "lstm3"), optimizer="rmsprop", lr=1e-3,
    optimizer_options=KERAS_RMSPROP, schedule="loss", schedule_options={"per": "epoch"}, clip=0.0,
    init="keras-glorot", batch_size=32, patience=50, monitor="test_accuracy",
    task_options={"standardize": True}, cell_options={"peepholes": False, "gate": "sigmoid"})

RECIPES = {}


def _add(recipe):
    RECIPES[recipe.name] = recipe
    return recipe


_add(Recipe(
    name="lu-salem-2017-mnist-rows", summary="row-wise MNIST (T = 28, m = 28), LSTM1/2/3 against the LSTM",
    task="mnist-rows", hidden_size=50, epochs=200,
    faithful="Row-wise MNIST, n = 50, 200 epochs, η₀ in {1e-2, 1e-3, 1e-4, 1e-5} (Table II: at 1e-3 "
             "0.9816 / 0.9821 / 0.9799 / 0.9762 for LSTM / LSTM1 / LSTM2 / LSTM3). Inputs standardised per pixel, "
             "(x − mean) / (std + 1e-6) over the training set; input and recurrent weights Glorot-uniform "
             "(init and inner_init 'glorot_uniform'); sigmoid gates (inner_activation='sigmoid'); the base LSTM "
             "has no peepholes. " + _LU_SALEM_CODE,
    differs=_LU_SALEM_DIFF, **_LU_SALEM_MNIST))

_add(Recipe(
    name="lu-salem-2017-mnist-pixels", summary="pixel-wise MNIST (T = 784, m = 1), LSTM1/2/3 against the LSTM",
    task="mnist-pixels", hidden_size=100, epochs=100,
    faithful="Pixel-wise MNIST, n = 100, 100 epochs, η₀ in {1e-3, 1e-4} (Table I: at 1e-3 0.9857 / 0.9609 / "
             "0.7519 / 0.4239, at 1e-4 0.9727 / 0.9799 / 0.9745 / 0.5696 for LSTM / LSTM1 / LSTM2 / LSTM3). "
             "Preprocessing, initialisation and gates as the row-wise run. " + _LU_SALEM_CODE,
    differs=_LU_SALEM_DIFF + " 784 steps a sequence: on a CPU, run it on a subset (--limit).", **_LU_SALEM_MNIST))

_add(Recipe(
    name="lu-salem-2017-imdb", paper="Lu & Salem 2017", summary="IMDB sentiment, LSTM1/2/3 against the LSTM",
    task="imdb", task_options={"vocab_size": 20000, "maxlen": 80, "embed_size": 128},
    cells=("lstm", "lstm1", "lstm2", "lstm3"), cell_options={"peepholes": False, "gate": "hard_sigmoid"},
    hidden_size=128, optimizer="rmsprop", lr=1e-3, optimizer_options=KERAS_RMSPROP, schedule="loss",
    schedule_options={"per": "epoch"}, clip=0.0, init="keras1", batch_size=32, epochs=50, patience=20,
    monitor="test_accuracy",
    faithful="IMDB, the 20,000 most frequent words, the last 80 words of each review, embedding 128, n = 128, "
             "dropout 0.2 on the embeddings and on the W and U rows, a sigmoid output with binary cross-entropy; "
             "the paper says 100 epochs, the code runs 50 (Table III: at η₀ = 1e-3 0.8524 / 0.8542 / 0.8512 / "
             "0.8348 for LSTM / LSTM1 / LSTM2 / LSTM3). The IMDB run leaves inner_activation at Keras' default, so "
             "its gates are hard_sigmoid = clip(0.2x + 0.5, 0, 1); Keras 1's default weights (Glorot-uniform W, "
             "orthogonal ×1.1 U). " + _LU_SALEM_CODE,
    differs=_LU_SALEM_DIFF.replace(" Softmax cross-entropy over 10 classes, as theirs.", "")
    + " No dropout (npslim's standard model has none). Two softmax outputs with cross-entropy instead of one "
      "sigmoid output with binary cross-entropy: the same model up to n + 1 read-out parameters. Patience 20 "
      "as their IMDB code."))

# ---------------------------------------------------------------------------- Akandeh & Salem 2019
AKANDEH_SALEM_FORGET_SWEEP = (0.59, 0.7, 0.8, 0.9, 0.96)

_add(Recipe(
    name="akandeh-salem-2019-imdb", paper="Akandeh & Salem 2019",
    summary="IMDB sentiment, LSTM_6 and LSTM_C6 against the LSTM",
    task="imdb", task_options={"vocab_size": 5000, "maxlen": 500, "embed_size": 32},
    cells=("lstm", "lstm6", "lstm_c6"), cell_options={"peepholes": False, "activation": "sigmoid", "forget": 0.59},
    hidden_size=100, optimizer="adam", lr=1e-3, clip=0.0, init="keras2", batch_size=32, epochs=100,
    monitor="test_accuracy", sweep={"forget": AKANDEH_SALEM_FORGET_SWEEP, "lr": (1e-4, 1e-3, 2e-3)},
    faithful="IMDB, the 5,000 most frequent words, reviews of 500 words, embedding 32, n = 100 (also 200-400), "
             "Adam, batch 32, binary cross-entropy, 100 epochs (200 in the f sweep), φ = sigmoid, f = 0.59, the "
             "best test accuracy reported (Table 4, η = 1e-4 / 1e-3 / 2e-3: LSTM 0.8856 / 0.8868 / 0.7775, LSTM6 "
             "0.8208 / 0.8026 / 0.7100, LSTM_C6 0.8174 / 0.8192 / 0.7842); f swept up to 0.96, stable on IMDB.",
    differs="Their code is not public: the initialisation is assumed to be Keras 2's LSTM defaults (Glorot-uniform "
            "W, orthogonal U, forget bias 1; 'keras2'), Adam with torch's defaults (β = 0.9, 0.999, ε = 1e-8; "
            "Keras 2 uses ε = 1e-7). Which end of a review Keras kept is not stated; npslim keeps the last 500 "
            "words. Two softmax outputs instead of one sigmoid. No early stopping: the best test accuracy of the "
            "run is the paper's number."))

# ---------------------------------------------------------------------------- Greff et al. 2017
_GREFF_FAITHFUL = ("Greff et al. 2017: 200 random-search trials per variant and dataset; online SGD (batch 1) with "
                   "Nesterov-style momentum; hidden size, learning rate, momentum and Gaussian input noise drawn from "
                   "search_space; early stopping on a validation set. ")
_GREFF_DIFFERS = ("The settings here are one point of the search space (lr 1e-3, momentum 0.9, the task's hidden "
                  "size) for a single run; a random search (npslim study) draws its trials from search_space. "
                  "Online SGD (batch 1) as theirs. Gaussian input noise std 0 at this point (inside the paper's "
                  "range; --input-noise sets it; their finding: it did not help except a little on TIMIT). The "
                  "validation split is 20% of the training split and the patience 20: npslim's choices. npslim's "
                  "initialisation.")

def _greff(task, summary, hidden_size, epochs, monitor, paper_task, stand_in):
    """One of Greff et al. 2017's setups on an npslim stand-in task: all nine cells, online SGD with
    Nesterov momentum at one point of the search space; they differ in task, size, epochs, monitor."""
    return Recipe(
        name=f"greff-2017-{task}", paper="Greff et al. 2017", summary=summary,
        task=task, cells=("lstm", "nig", "nfg", "nog", "niaf", "noaf", "cifg", "np", "fgr"), hidden_size=hidden_size,
        optimizer="sgd", lr=1e-3, optimizer_options={"momentum": 0.9, "nesterov": True}, batch_size=1, epochs=epochs,
        patience=20, monitor=monitor, val_fraction=0.2, search_space=GREFF_SEARCH_SPACE,
        faithful=_GREFF_FAITHFUL + paper_task, differs=stand_in + " " + _GREFF_DIFFERS)


_add(_greff("chorales", "Bach chorales next-step prediction (the JSB Chorales stand-in), Greff's variants",
            128, 50, "val_nll", "JSB Chorales: one LSTM layer, next-step Bernoulli NLL per frame.",
            "A stand-in for JSB Chorales (npslim's chorales)."))
_add(_greff("vowels", "Japanese vowels speaker classification (the TIMIT stand-in), Greff's variants",
            64, 40, "val_accuracy", "TIMIT: frame-wise phone classification with a bidirectional LSTM.",
            "A stand-in for TIMIT (npslim's vowels: one label per sequence, unidirectional)."))

# ---------------------------------------------------------------------------- Kuchaiev & Ginsburg 2017
_add(Recipe(
    name="kuchaiev-ginsburg-2017-shakespeare", paper="Kuchaiev & Ginsburg 2017",
    summary="character language model on Shakespeare, LSTMP against F-LSTM and G-LSTM",
    task="shakespeare-chars", task_options={"seq_len": 100, "embed_size": 64},
    cells=("lstmp", "flstm", "glstm"), cell_options={"proj_size": 64, "forget_bias": 1.0},
    hidden_size=256, optimizer="adagrad", lr=0.2, optimizer_options={"initial_accumulator_value": 1.0 / 20 ** 2},
    clip=10.0 / 20, batch_size=32, epochs=2, tbptt=20,
    faithful="One Billion Word, two layers of n = 8192 cells projected to p = 1024, embedding p wide, F-LSTM r = 512, "
             "G-LSTM k = 2, 4, 8; Adagrad lr 0.2; one week on 4 GPUs each (Table 1: perplexity 35.1 / 36.3 / 36.0 "
             "/ 40.6 / 39.4 for LSTMP / F512 / G-2 / G-4 / G-8). The authors' code (okuchaiev/f-lm, TensorFlow 1): "
             "Adagrad with the accumulator starting at 1.0, the loss summed over the num_steps = 20 steps of a "
             "window (and averaged over the batch), the LSTM weights' gradient norm clipped at 10, the state "
             "carried from window to window; a constant forget bias 1.0 inside σ(f̄ + 1) on top of a trainable "
             "bias that starts at 0; dropout keep_prob 0.9; a moving average of the LSTM weights; batch 128 per "
             "GPU; sampled softmax over 8,192 words.",
    differs="Laptop scale: Shakespeare's characters, one layer of n = 256 cells, p = 64, embedding 64, batch 32 "
            "(r = p/2 = 32 and k = 2 are the cells' defaults, as the paper's F512 and G-2). npslim's loss is the "
            "mean per step, so the accumulator starts at 1/20² and the clip is 10/20 (the same updates as "
            "their summed loss); the clip covers all gradients (theirs: the LSTM weights only, and their "
            "embedding gradient is scaled by the batch size). Full softmax over 84 characters, no dropout, no "
            "weight averaging; b starts at U(−1/√n, 1/√n), not 0. npslim's lstmp, flstm and glstm always carry "
            "the projection P; the authors' code also runs without one (no num_proj).", init="npslim"))

# ---------------------------------------------------------------------------- Li et al. 2018
_add(Recipe(
    name="li-2018-shakespeare", paper="Li et al. 2018",
    summary="character language model on Shakespeare, G2-LSTM and the sharpened sigmoid against the LSTM",
    task="shakespeare-chars", task_options={"seq_len": 140, "embed_size": 64},
    cells=("lstm", "sharpened", "g2lstm"), cell_options={"peepholes": False, "noise_p": 0.2, "noise_eps": 1e-3},
    hidden_size=128, optimizer="sgd", lr=30.0, optimizer_options={"weight_decay": 1.2e-6}, clip=0.25,
    batch_size=32, epochs=2, tbptt=70,
    faithful="Penn Treebank with Merity et al.'s AWD-LSTM (three layers of 1150 cells, embedding 400, weight-dropped "
             "recurrence 0.5 and dropouts, SGD lr 30 with the gradient norm clipped at 0.25, weight decay 1.2e-6, "
             "batch 80, BPTT windows around 70 steps, switching to averaged SGD when validation stops improving, "
             "500 + 500 epochs, a neural cache on top); G2-LSTM τ = 0.9, and in the authors' code "
             "(zhuohan123/g2-lstm) the noise on a Bernoulli(p = 0.2) fraction of the gate elements with eps = 1e-3 "
             "in log(U + eps) − log(1 + eps − U); the sharpened sigmoid τ = 0.2 (Table 3: perplexity 52.8 / 53.2 / "
             "52.1 for LSTM / sharpened / G2-LSTM). Their translation runs used AdaDelta with clip 2.0.",
    differs="Laptop scale: Shakespeare's characters, one layer of n = 128 cells, embedding 64, batch 32, "
            "70-step windows; the SGD step of AWD-LSTM (lr 30, clip 0.25, weight decay 1.2e-6) without its "
            "averaged-SGD phase, weight drop, dropouts, activation regularisers or neural cache. τ are the cells' "
            "defaults (0.9 for g2lstm, 0.2 for sharpened).", init="npslim"))


def names():
    """Every recipe name, in registration order."""
    return list(RECIPES)


def get(name):
    """The :class:`Recipe` called ``name``."""
    try:
        return RECIPES[name]
    except KeyError:
        raise KeyError(f"name: expected a recipe in {names()}, got {name!r}") from None


def main(argv=None):
    """``python -m npslim.recipes [NAME ...]``: describe the named recipes (default: all)."""
    import sys
    chosen = (sys.argv[1:] if argv is None else argv) or names()
    for k, name in enumerate(chosen):
        try:
            print(("\n" if k else "") + get(name).describe())
        except KeyError as exc:
            print(exc.args[0], file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
