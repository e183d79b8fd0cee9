"""Processing stages: volume readers, organelle instances, cell properties, contact sites and
synapses, distances, and the table writer, registered as stages and run by Dask."""
