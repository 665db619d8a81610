"""Push tokens: a profile's devices, and the push marketing consent that follows them."""
