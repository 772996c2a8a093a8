"""Fails to import, as a plugin whose driver is missing would."""

raise ImportError("xpgrad-broken needs the 'quantum_chip' driver, which is not installed "
                  "(a deliberately broken example plugin)")
