"""The depth lab: He et al.'s CIFAR networks (plain and residual, 6n+2 layers), how the
gradient flows through them at initialisation, and the degradation experiment."""
