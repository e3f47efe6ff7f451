"""LiDAR sweeps of ground, cars and pedestrians; meshes with per-vertex labels; a synthetic SMPL stand-in; Lambertian face renders; stick-figure motion (spec §8.2 K)."""
