"""Honest leave-one-subject-out training: folds, the training loop, results on disk, the final model.

Protocol:
- One fold per subject. The test subject is used for nothing but testing: each fold holds out
  a validation split of its *training* subjects (by subject, rotating through the sorted list
  so every subject validates equally often), and early stopping and the choice of epoch use
  that split only. The score is the validation UF1, ties broken by the lower validation loss
  (UF1 is what is reported; on a handful of clips it moves in coarse steps).
- `select_on_test=True` is the practice of much published MER code: no validation split, and
  the epoch is chosen on the test subject. It inflates the numbers, so it exists only as an
  explicitly named option and is written into every output ("selection").
- The model trained on all subjects runs for the median of the folds' chosen epochs (there is
  nothing left to stop it on).
- Every finished fold is written to RUN_DIR/folds/ at once; `resume=True` loads those and
  computes only the missing ones. A fold that was cut short restarts from its first epoch: its
  seed depends only on the run's seed and its test subject, so it gives the same result.

Modules, one job each: `folds` (the split and seeds), `samples` (what feeds the network),
`trainer` (one model: optimiser, epoch, predictions), `context` (what a run trains on),
`epochs` (a fold's epoch loop with early stopping; the all-subject model), `run_dir` (RUN_DIR on
disk), `run` (`LosoRun`: the folds in turn, resumable), `ray_folds` (one Ray task per fold).
"""

from training.loso.folds import Fold, make_folds
from training.loso.run import LosoRun
from training.loso.run_dir import FoldResult, RunResult, check_out_dir
from training.loso.samples import NetworkInputs, Sample
from training.loso.trainer import Trainer

__all__ = ["Fold", "FoldResult", "LosoRun", "NetworkInputs", "RunResult", "Sample", "Trainer", "check_out_dir",
           "make_folds"]
