"""Point clouds, voxels, multi-view depth renders and LiDAR sweeps of primitives (spec §8.2 K)."""
