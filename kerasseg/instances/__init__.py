"""Instance segmentation: each person its own mask, as the second task beside semantic masks.

One place for the task: its targets (`targets`, from instance-id masks), its
model (`model.instance_model`: a centre heatmap and centre offsets added to a
semantic model, `model.with_foreground`: another model's mask grouped by
its heads, and `model.InstanceLoss`), its decoding (`decode`, which is
`kerasseg.litert.decode_instances`, numpy only so that it runs on a device) and
its scores (`metrics.InstanceScores`: COCO mask AP, AP50, AP75, PQ) and its
augmentation (`copy_paste.CopyPaste`: people pasted from other photos).
`from_semantic` is the baseline every instance model is compared with: the
connected components of a semantic mask.

Instances are an id map, (H, W) integers, 0 background and 1..k, with one score
per id. `kerasseg.instances.model` imports Keras; the rest needs numpy and scipy.
"""

from kerasseg.instances.metrics import InstanceScores, from_semantic, match, overlaps
from kerasseg.instances.targets import targets
from kerasseg.litert import INSTANCE_CHANNELS
from kerasseg.litert import decode_instances as decode

__all__ = ["INSTANCE_CHANNELS", "InstanceScores", "decode", "from_semantic", "match", "overlaps",
           "targets"]
