"""Training loop and checkpoints."""
from .checkpoint import atomic_save, atomic_write_text, load_checkpoint
from .loop import TrainingLoop
from .selection import ModelSelection
from .trainer import Trainer, TrainerConfig

__all__ = ["Trainer", "TrainerConfig", "TrainingLoop", "ModelSelection", "atomic_save", "atomic_write_text", "load_checkpoint"]
