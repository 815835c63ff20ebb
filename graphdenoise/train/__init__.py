"""Training loop, checkpoints, run fingerprints and the guards that stop a run that went wrong."""
from .checkpoint import atomic_save, atomic_write_text, load_checkpoint
from .fingerprint import ResumeMismatchError
from .guards import NonFiniteError
from .interrupt import TrainingInterrupted
from .loop import TrainingLoop
from .selection import ModelSelection
from .trainer import Trainer, TrainerConfig

__all__ = ["Trainer", "TrainerConfig", "TrainingLoop", "ModelSelection", "atomic_save", "atomic_write_text",
           "load_checkpoint", "NonFiniteError", "ResumeMismatchError", "TrainingInterrupted"]
