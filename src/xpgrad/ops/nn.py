"""Neural-network ops: softmax, log_softmax."""
