"""The core: Tensor, op registry, reverse tape, forward duals, transforms and devices.

Nothing here imports an array library or names an op.
"""
