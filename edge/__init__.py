"""roadside-edge: the program in the cabinet beside a weigh-in-motion scale."""

__version__ = "0.1.0"
