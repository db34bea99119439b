"""Official HRM and TRM checkpoints in and out: `ponder import` (an official checkpoint and
its all_config.yaml as a ponder run) and `ponder export` (a run as an official checkpoint
folder). The key and arch tables they rest on are ponder.models.official_keys.

Above the engine: an imported run's checkpoint is the trainer's state at step 0, written by
ponder.train, so `ponder train --resume` fine-tunes it.
"""

from ponder.official.exporting import Exported, export_run
from ponder.official.importing import Imported, import_checkpoint

__all__ = ["Exported", "Imported", "export_run", "import_checkpoint"]
