"""PyTorch and scikit-learn models (voxel U-Nets, point-cloud compartment and cell-type
models, the synapse classifier). Imports nothing of ours.

The walking skeleton runs on given label layers and needs no model yet; the models arrive
with their own issue and plug into ``ingest`` through its stage registry.
"""
