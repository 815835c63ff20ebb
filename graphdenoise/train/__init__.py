"""Training loop and checkpoints."""
from .checkpoint import atomic_save, atomic_write_text, load_checkpoint
from .trainer import Trainer, TrainerConfig

__all__ = ["Trainer", "TrainerConfig", "atomic_save", "atomic_write_text", "load_checkpoint"]
