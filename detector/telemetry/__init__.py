"""What the detector says about itself: Prometheus metrics and structured logs."""
