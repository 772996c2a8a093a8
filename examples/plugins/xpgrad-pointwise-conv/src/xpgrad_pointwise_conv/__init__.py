"""xpgrad-pointwise-conv: a third-party conv2d kernel chosen by xpgrad's cost-model dispatcher."""
