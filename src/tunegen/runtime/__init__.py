"""Process plumbing with no ML imports: thread pools, crash-isolating workers, safe writes."""
