"""Two-stage detectors (R-CNN, Fast R-CNN, Faster R-CNN): filled by the two-stage work."""
