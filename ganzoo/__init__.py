"""ganzoo: a TensorFlow / Keras 3 model zoo of generative adversarial networks."""
__version__ = "0.1.0"
