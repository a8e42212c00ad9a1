"""Synthetic training data: GA 36 plates (plates), image variation (augment), detection scenes
with exactly tracked corners (scenes), from the assets in shared/data/synth (assets)."""
