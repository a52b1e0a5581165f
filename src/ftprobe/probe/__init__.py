"""Stage 4: probes."""
